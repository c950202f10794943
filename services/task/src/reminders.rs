//! Keeping the notify service's reminders in step with a task: the outbox
//! call that each change of a task queues in its own transaction.

use todo_common::clock::to_timestamp;
use todo_proto::todo::notify::v1::{CancelReminderRequest, ScheduleReminderRequest};
use todo_store::exec::Exec;
use todo_store::outbox;

use crate::error::Error;
use crate::outbox::Outbox;
use crate::store::tasks::TaskRow;

/// Queues the notify call that makes the task's pending reminders match
/// its new state (`after: None` when deleted), in the caller's
/// transaction: every reminder time still to come at `now`, for a task
/// that is not done. Reminders go to the task's creator, whoever changed
/// it. Whether a call was queued: only then has the relay work to do.
pub async fn sync(
    conn: &mut impl Exec,
    before: Option<&TaskRow>,
    after: Option<&TaskRow>,
    now: i64,
) -> Result<bool, Error> {
    let pending = |r: &TaskRow| {
        if r.fields.done {
            Vec::new()
        } else {
            r.placed.pending(now)
        }
    };
    let was = before.map(pending).unwrap_or_default();
    let will = after.map(pending).unwrap_or_default();
    let title_changed =
        matches!((before, after), (Some(b), Some(a)) if b.fields.title != a.fields.title);
    let revision = after.map_or_else(|| before.map_or(1, |b| b.revision + 1), |a| a.revision);
    let Some(task) = after.or(before) else {
        return Ok(false);
    };
    let (task_id, user_id) = (task.id.to_string(), task.creator_id.to_string());
    if !will.is_empty() && (was != will || title_changed) {
        let req = ScheduleReminderRequest {
            dedup_key: format!("schedule:{task_id}:{revision}"),
            user_id,
            task_id,
            task_title: task.fields.title.clone(),
            // For a notify service that reads one time only.
            remind_time: will.first().copied().map(to_timestamp),
            revision,
            remind_times: will.into_iter().map(to_timestamp).collect(),
        };
        outbox::enqueue(conn, &Outbox::ScheduleReminder(req)).await?;
        Ok(true)
    } else if !was.is_empty() && will.is_empty() {
        let req = CancelReminderRequest {
            dedup_key: format!("cancel:{task_id}:{revision}"),
            user_id,
            task_id,
            revision,
        };
        outbox::enqueue(conn, &Outbox::CancelReminder(req)).await?;
        Ok(true)
    } else {
        Ok(false)
    }
}
