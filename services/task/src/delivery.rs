//! Delivers the outbox: reminder changes to the notify service.

use tonic::Status;

use todo_common::auth::ServiceChannel;
use todo_proto::todo::notify::v1::notify_internal_service_client::NotifyInternalServiceClient;
use todo_store::outbox::Deliver;

use crate::outbox::Outbox;

/// The relay's delivery of [`Outbox`] messages.
pub struct NotifyDelivery(pub NotifyInternalServiceClient<ServiceChannel>);

#[tonic::async_trait]
impl Deliver for NotifyDelivery {
    type Message = Outbox;

    async fn deliver(&self, message: Outbox) -> Result<(), Status> {
        let mut client = self.0.clone();
        match message {
            Outbox::ScheduleReminder(req) => client.schedule_reminder(req).await.map(drop),
            Outbox::CancelReminder(req) => client.cancel_reminder(req).await.map(drop),
        }
    }
}
