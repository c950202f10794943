//! Sharing: invitations by address, accepting and declining them, and the
//! members of a list with their roles.
//!
//! An invitation names an address, not an account, so the answer to an
//! invite is the same whether or not the address is registered. Only the
//! account whose *verified* address it is sees or accepts it: the caller's
//! address comes from the user service at that moment, never from the
//! request.

use std::time::Duration;

use todo_common::auth::ServiceChannel;
use todo_common::clock::{new_id, now_micros, to_timestamp};
use todo_common::email::Email;
use todo_proto::todo::task::v1::{
    Invitation, InvitationNotice, InviteMemberRequest, ListInvitationsResponse,
    ListMembersResponse, Member, RemoveMemberRequest, UpdateMemberRequest,
};
use todo_proto::todo::user::v1::user_internal_service_client::UserInternalServiceClient;
use todo_proto::todo::user::v1::{LookupUserRequest, LookupUsersRequest};
use todo_store::outbox;

use crate::State;
use crate::access::{Action, Role};
use crate::domain::required_id;
use crate::error::{Error, LIST};
use crate::ids::{Id, InvitationId, ListId, UserId};
use crate::list_fields::{
    INVITATION_TTL_MICROS, INVITATIONS_PER_DAY, LISTS_PER_USER, MEMBERS_PER_LIST,
    PENDING_INVITATIONS_PER_LIST, requested_role,
};
use crate::outbox::{Outbox, invitation_notice, sharing_notice};
use crate::request::retry;
use crate::store::invitations::{self, InvitationRow, State as InvitationState};
use crate::store::lists::{self, Membership};
use crate::store::tasks;

const INVITATION: &str = "invitation";
const MEMBER: &str = "member";
const DAY_MICROS: i64 = 24 * 3600 * 1_000_000;
/// When a client that hit an invitation limit may try again.
const RETRY_INVITING: Duration = Duration::from_secs(3600);

impl State {
    pub(crate) async fn invite(
        &self,
        caller: &UserId,
        req: &InviteMemberRequest,
    ) -> Result<(), Error> {
        let mut errs = Vec::new();
        let list_id: Option<ListId> = required_id(&req.list_id, "listId", &mut errs);
        let email = Email::parse(&req.email, "email")
            .map_err(|v| errs.push(v))
            .ok();
        let role = requested_role(req.role, false)
            .map_err(|v| errs.push(v))
            .ok();
        let (Some(list_id), Some(email), Some(role)) = (list_id, email, role) else {
            return Err(Error::Invalid(errs));
        };
        let now = now_micros();
        let invitation = InvitationRow {
            id: InvitationId::trusted(new_id()),
            list_id: list_id.clone(),
            list_title: String::new(),
            email: email.key(),
            role,
            inviter_id: caller.clone(),
            create_time: now,
            expire_time: now + INVITATION_TTL_MICROS,
        };
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            let list = lists::get(&mut tx, caller, &list_id)
                .await?
                .ok_or(Error::NotFound(LIST))?;
            list.role.require(Action::Administer)?;
            if list.list.is_default {
                return Err(Error::Precondition("the default list cannot be shared"));
            }
            if invitations::pending_of_list(&mut tx, &list_id, now).await?
                >= PENDING_INVITATIONS_PER_LIST
            {
                return Err(Error::TooMany(
                    "a list has at most 50 pending invitations",
                    RETRY_INVITING,
                ));
            }
            if invitations::sent_since(&mut tx, caller, now - DAY_MICROS).await?
                >= INVITATIONS_PER_DAY
            {
                return Err(Error::TooMany(
                    "at most 100 invitations a day",
                    RETRY_INVITING,
                ));
            }
            invitations::insert(&mut tx, &invitation).await?;
            let notice = InvitationNotice {
                invitation_id: invitation.id.to_string(),
                list_id: list_id.to_string(),
                list_title: list.list.title.clone(),
                inviter_id: caller.to_string(),
                email: email.as_str().to_owned(),
                role: role.to_proto().into(),
            };
            outbox::enqueue(&mut tx, &Outbox::Invite(notice)).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.relay.poke();
        tracing::info!(list_id = %list_id, invitation_id = %invitation.id, "invitation sent");
        Ok(())
    }

    /// Announces the pending invitations to `user_id`'s address, which has
    /// just been verified: one INVITATION notification each, with the same
    /// deduplication key as when the invitation was relayed, so an
    /// invitation is announced once whichever came first.
    pub(crate) async fn announce_invitations(&self, user_id: &UserId) -> Result<(), Error> {
        let Some(email) = self.verified_address(user_id).await? else {
            return Ok(());
        };
        let mut conn = self.db.pool.acquire().await?;
        let rows = invitations::pending_for(&mut conn, &email, now_micros()).await?;
        drop(conn);
        if rows.is_empty() {
            return Ok(());
        }
        let names = display_names(&self.users, rows.iter().map(|r| r.inviter_id.clone())).await?;
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            for r in &rows {
                let inviter = names.get(&r.inviter_id).map_or("Someone", String::as_str);
                let notice = invitation_notice(
                    &r.id,
                    user_id,
                    &r.list_title,
                    inviter,
                    Role::word_of(r.role.to_proto().into()),
                );
                outbox::enqueue(&mut tx, &Outbox::Notify(notice)).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.relay.poke();
        tracing::info!(user_id = %user_id, invitations = rows.len(), "invitations announced");
        Ok(())
    }

    /// The key of the caller's address if it is verified, else `None`.
    async fn verified_address(&self, caller: &UserId) -> Result<Option<String>, Error> {
        let mut users = self.users.clone();
        let contact = users
            .lookup_user(LookupUserRequest {
                user_id: caller.to_string(),
            })
            .await
            .map_err(|s| upstream(&s))?
            .into_inner();
        Ok(contact.email_verified.then(|| contact.email.to_lowercase()))
    }

    pub(crate) async fn list_invitations(
        &self,
        caller: &UserId,
    ) -> Result<ListInvitationsResponse, Error> {
        let Some(email) = self.verified_address(caller).await? else {
            return Ok(ListInvitationsResponse::default());
        };
        let mut conn = self.db.pool.acquire().await?;
        let rows = invitations::pending_for(&mut conn, &email, now_micros()).await?;
        drop(conn);
        let names = display_names(&self.users, rows.iter().map(|r| r.inviter_id.clone())).await?;
        let invitations = rows
            .into_iter()
            .map(|r| Invitation {
                inviter_name: names.get(&r.inviter_id).cloned().unwrap_or_default(),
                id: r.id.into(),
                list_id: r.list_id.into(),
                list_title: r.list_title,
                role: r.role.to_proto().into(),
                create_time: Some(to_timestamp(r.create_time)),
                expire_time: Some(to_timestamp(r.expire_time)),
            })
            .collect();
        Ok(ListInvitationsResponse { invitations })
    }

    /// Joins the invitation's list with its role; accepting again, or an
    /// invitation to a list the caller is already in, just answers the
    /// list.
    pub(crate) async fn accept(&self, caller: &UserId, id: &str) -> Result<Membership, Error> {
        let id = InvitationId::parse(id, "id")?;
        let email = self
            .verified_address(caller)
            .await?
            .ok_or(Error::NotFound(INVITATION))?;
        let now = now_micros();
        let list_id = retry(|| async {
            let mut tx = self.db.begin_write().await?;
            let invitation = invitations::get_pending(&mut tx, &id, &email, now)
                .await?
                .ok_or(Error::NotFound(INVITATION))?;
            if lists::get(&mut tx, caller, &invitation.list_id)
                .await?
                .is_none()
            {
                let members = lists::member_count(&mut tx, &invitation.list_id).await?;
                if members >= MEMBERS_PER_LIST {
                    return Err(Error::Precondition("a list has at most 100 members"));
                }
                if lists::count_of(&mut tx, caller).await? >= LISTS_PER_USER {
                    return Err(Error::Precondition(
                        "a user is a member of at most 1,000 lists",
                    ));
                }
                lists::add_member(&mut tx, &invitation.list_id, caller, invitation.role, now)
                    .await?;
            }
            if !invitations::settle(&mut tx, &id, InvitationState::Accepted).await? {
                return Err(Error::Contended);
            }
            tx.commit().await?;
            Ok(invitation.list_id)
        })
        .await?;
        tracing::info!(list_id = %list_id, invitation_id = %id, "invitation accepted");
        self.membership(caller, &list_id).await
    }

    pub(crate) async fn decline(&self, caller: &UserId, id: &str) -> Result<(), Error> {
        let id = InvitationId::parse(id, "id")?;
        let email = self
            .verified_address(caller)
            .await?
            .ok_or(Error::NotFound(INVITATION))?;
        let now = now_micros();
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            invitations::get_pending(&mut tx, &id, &email, now)
                .await?
                .ok_or(Error::NotFound(INVITATION))?;
            invitations::settle(&mut tx, &id, InvitationState::Declined).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        tracing::info!(invitation_id = %id, "invitation declined");
        Ok(())
    }

    pub(crate) async fn list_members(
        &self,
        caller: &UserId,
        list_id: &str,
    ) -> Result<ListMembersResponse, Error> {
        let list_id = ListId::parse(list_id, "listId")?;
        let mut conn = self.db.pool.acquire().await?;
        lists::get(&mut conn, caller, &list_id)
            .await?
            .ok_or(Error::NotFound(LIST))?;
        let rows = lists::members(&mut conn, &list_id).await?;
        drop(conn);
        let names = display_names(&self.users, rows.iter().map(|m| m.user_id.clone())).await?;
        let members = rows
            .into_iter()
            .map(|m| Member {
                display_name: names.get(&m.user_id).cloned().unwrap_or_default(),
                user_id: m.user_id.into(),
                role: m.role.to_proto().into(),
            })
            .collect();
        Ok(ListMembersResponse { members })
    }

    /// Changes a member's role (OWNER only). Making someone OWNER hands the
    /// list over: the old owner becomes EDITOR.
    pub(crate) async fn update_member(
        &self,
        caller: &UserId,
        req: &UpdateMemberRequest,
    ) -> Result<Member, Error> {
        let mut errs = Vec::new();
        let list_id: Option<ListId> = required_id(&req.list_id, "listId", &mut errs);
        let user_id: Option<UserId> = required_id(&req.user_id, "userId", &mut errs);
        let role = requested_role(req.role, true)
            .map_err(|v| errs.push(v))
            .ok();
        let (Some(list_id), Some(user_id), Some(role)) = (list_id, user_id, role) else {
            return Err(Error::Invalid(errs));
        };
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            let list = lists::get(&mut tx, caller, &list_id)
                .await?
                .ok_or(Error::NotFound(LIST))?;
            list.role.require(Action::Administer)?;
            if user_id == *caller {
                if role == Role::Owner {
                    return Ok(());
                }
                return Err(Error::Precondition(
                    "the owner changes role by making another member OWNER",
                ));
            }
            if !lists::set_role(&mut tx, &list_id, &user_id, role).await? {
                return Err(Error::NotFound(MEMBER));
            }
            if role == Role::Owner {
                lists::set_role(&mut tx, &list_id, caller, Role::Editor).await?;
                lists::set_owner(&mut tx, &list_id, &user_id).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await?;
        tracing::info!(list_id = %list_id, user_id = %user_id, role = ?role, "member role changed");
        let names = display_names(&self.users, [user_id.clone()]).await?;
        Ok(Member {
            display_name: names.get(&user_id).cloned().unwrap_or_default(),
            user_id: user_id.into(),
            role: role.to_proto().into(),
        })
    }

    /// Removes a member (OWNER), or the caller themself (leaving). Their
    /// access ends with the commit: every read joins the membership. The
    /// reminders of tasks they made there are cancelled, so no title of a
    /// list they left reaches them.
    pub(crate) async fn remove_member(
        &self,
        caller: &UserId,
        req: &RemoveMemberRequest,
    ) -> Result<(), Error> {
        let mut errs = Vec::new();
        let list_id: Option<ListId> = required_id(&req.list_id, "listId", &mut errs);
        let user_id: Option<UserId> = required_id(&req.user_id, "userId", &mut errs);
        let (Some(list_id), Some(user_id)) = (list_id, user_id) else {
            return Err(Error::Invalid(errs));
        };
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            let list = lists::get(&mut tx, caller, &list_id)
                .await?
                .ok_or(Error::NotFound(LIST))?;
            if user_id == *caller {
                if list.role == Role::Owner {
                    return Err(Error::Precondition(
                        "the owner must hand ownership over before leaving",
                    ));
                }
            } else {
                list.role.require(Action::Administer)?;
            }
            if !lists::remove_member(&mut tx, &list_id, &user_id).await? {
                return Err(Error::NotFound(MEMBER));
            }
            for task in tasks::with_pending_reminders(&mut tx, &list_id, Some(&user_id)).await? {
                crate::reminders::sync(&mut tx, Some(&task), None, now_micros()).await?;
            }
            if user_id != *caller {
                let notice = sharing_notice(
                    &user_id,
                    &format!("removed:{list_id}:{}", now_micros()),
                    "Removed from a shared list",
                    &format!("You were removed from the list “{}”.", list.list.title),
                );
                outbox::enqueue(&mut tx, &Outbox::Notify(notice)).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.relay.poke();
        tracing::info!(list_id = %list_id, user_id = %user_id, "member removed");
        Ok(())
    }
}

/// A failed call to the user service: UNAVAILABLE when it is down (the
/// client may retry), else an internal error.
fn upstream(status: &tonic::Status) -> Error {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
            Error::Unavailable("user service")
        }
        _ => Error::Internal(anyhow::anyhow!("user lookup failed: {}", status.message())),
    }
}

/// The display names of `ids`, in one call (erased users are left out).
async fn display_names(
    users: &UserInternalServiceClient<ServiceChannel>,
    ids: impl IntoIterator<Item = UserId>,
) -> Result<std::collections::HashMap<UserId, String>, Error> {
    let mut user_ids: Vec<String> = ids.into_iter().map(String::from).collect();
    user_ids.sort();
    user_ids.dedup();
    if user_ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let mut users = users.clone();
    let found = users
        .lookup_users(LookupUsersRequest { user_ids })
        .await
        .map_err(|s| upstream(&s))?
        .into_inner();
    Ok(found
        .users
        .into_iter()
        .map(|c| (UserId::trusted(c.user_id), c.display_name))
        .collect())
}
