//! The data every run reads and writes: an owner with a shared list of
//! many tasks, a second user who is an EDITOR of it, a page token that
//! starts a page in the middle of the list, and empty lists of the owner's
//! for the writes. Written through gRPC (faster than through the edge),
//! then saved as `key=value` lines for the runs.
//!
//! New tasks go to the empty lists, one per worker: a list holds at most
//! 10,000 tasks, so the shared list is full once seeded, and a list
//! written by every worker at once measures the contention on its order
//! (ABORTED answers) more than the write.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use todo_proto::todo::task::v1::task_service_client::TaskServiceClient;
use todo_proto::todo::task::v1::{
    AcceptInvitationRequest, CreateListRequest, CreateTaskRequest, InviteMemberRequest,
    ListInvitationsRequest, ListTasksRequest, Priority, Role, Task, TaskList,
};
use todo_proto::todo::user::v1::LoginRequest;
use todo_proto::todo::user::v1::user_service_client::UserServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use crate::grpc::{authed, bearer, channel};

/// The page size of the list reads.
pub const PAGE_SIZE: i32 = 50;

/// What the seeding made, as the runs need it.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The shared list that holds the tasks.
    pub list_id: String,
    /// Which page (from 0) [`Seed::deep_page_token`] starts.
    pub deep_page: usize,
    pub deep_page_token: String,
    /// Every seeded task, in creation order.
    pub tasks: Vec<String>,
    /// The owner's empty lists that the writes go to.
    pub write_lists: Vec<String>,
}

/// Who and how much to seed.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub user_url: String,
    pub task_url: String,
    /// Registered users (their addresses verified where sharing needs it),
    /// both with `password`.
    pub owner: String,
    pub member: String,
    pub password: String,
    pub tasks: usize,
    /// Tasks created at once.
    pub concurrency: usize,
    /// How many empty lists to make for the writes.
    pub write_lists: usize,
}

/// How often a task creation refused as contended (ABORTED, "retry") is
/// tried again while seeding.
const SEED_ATTEMPTS: u32 = 20;

/// Logs `email` in over gRPC and returns the access token.
///
/// # Errors
/// When the user service refuses.
pub async fn login(user: &Channel, email: &str, password: &str) -> anyhow::Result<String> {
    let pair = UserServiceClient::new(user.clone())
        .login(LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        })
        .await
        .with_context(|| format!("login of {email}"))?
        .into_inner();
    Ok(pair.access_token)
}

/// Seeds as `plan` says.
///
/// # Errors
/// Any refused call.
pub async fn seed(plan: &SeedPlan) -> anyhow::Result<Seed> {
    if plan.tasks < 2 * PAGE_SIZE as usize {
        bail!(
            "seed at least {} tasks, so that a page lies deep in the list",
            2 * PAGE_SIZE
        );
    }
    let user = channel(&plan.user_url).await?;
    let task_channel = channel(&plan.task_url).await?;
    let owner = bearer(&login(&user, &plan.owner, &plan.password).await?)?;
    let member = bearer(&login(&user, &plan.member, &plan.password).await?)?;
    let mut tasks = TaskServiceClient::new(task_channel.clone());

    let new_list = |title: String| {
        authed(
            CreateListRequest {
                list: Some(TaskList {
                    title,
                    ..TaskList::default()
                }),
            },
            &owner,
        )
    };
    let list = tasks
        .create_list(new_list("Shared bench list".to_owned()))
        .await
        .context("create the shared list")?
        .into_inner();
    let mut write_lists = Vec::with_capacity(plan.write_lists);
    for i in 0..plan.write_lists.max(1) {
        let made = tasks
            .create_list(new_list(format!("Bench writes {i}")))
            .await
            .context("create a list for the writes")?;
        write_lists.push(made.into_inner().id);
    }
    tasks
        .invite_member(authed(
            InviteMemberRequest {
                list_id: list.id.clone(),
                email: plan.member.clone(),
                role: Role::Editor.into(),
            },
            &owner,
        ))
        .await
        .context("invite the member")?;
    let invitation = tasks
        .list_invitations(authed(ListInvitationsRequest {}, &member))
        .await
        .context("list the member's invitations")?
        .into_inner()
        .invitations
        .into_iter()
        .find(|i| i.list_id == list.id)
        .context("the member sees no invitation to the shared list")?;
    tasks
        .accept_invitation(authed(
            AcceptInvitationRequest { id: invitation.id },
            &member,
        ))
        .await
        .context("accept the invitation")?;

    let ids = create_tasks(
        &task_channel,
        &owner,
        &list.id,
        plan.tasks,
        plan.concurrency,
    )
    .await?;

    // Page to the middle of the list, keeping the token that starts it.
    let pages = ids.len().div_ceil(PAGE_SIZE as usize);
    let deep_page = pages / 2;
    let mut token = String::new();
    for _ in 0..deep_page {
        token = tasks
            .list_tasks(authed(
                ListTasksRequest {
                    list_id: list.id.clone(),
                    page_size: PAGE_SIZE,
                    page_token: token,
                    ..ListTasksRequest::default()
                },
                &owner,
            ))
            .await
            .context("page through the list")?
            .into_inner()
            .next_page_token;
        if token.is_empty() {
            bail!("the list ended before page {deep_page}");
        }
    }
    Ok(Seed {
        list_id: list.id,
        deep_page,
        deep_page_token: token,
        tasks: ids,
        write_lists,
    })
}

/// Creates `count` tasks in `list_id`, `concurrency` at a time; their ids
/// in creation order.
async fn create_tasks(
    channel: &Channel,
    owner: &tonic::metadata::AsciiMetadataValue,
    list_id: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (next, owner, list_id) = (Arc::clone(&next), owner.clone(), list_id.to_owned());
            let mut client = TaskServiceClient::new(channel.clone());
            tokio::spawn(async move {
                let mut made = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return anyhow::Ok(made);
                    }
                    let priorities = [
                        Priority::Low,
                        Priority::Medium,
                        Priority::High,
                        Priority::Urgent,
                    ];
                    let task = Task {
                        title: format!("Seeded task {i}"),
                        description: "Made by the benchmark's seeding.".to_owned(),
                        priority: priorities[i % priorities.len()].into(),
                        labels: if i % 3 == 0 {
                            vec!["home".to_owned()]
                        } else {
                            Vec::new()
                        },
                        list_id: list_id.clone(),
                        ..Task::default()
                    };
                    let mut attempt = 1;
                    let created = loop {
                        let request = authed(
                            CreateTaskRequest {
                                task: Some(task.clone()),
                            },
                            &owner,
                        );
                        match client.create_task(request).await {
                            Err(status)
                                if status.code() == Code::Aborted && attempt < SEED_ATTEMPTS =>
                            {
                                tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 5))
                                    .await;
                                attempt += 1;
                            }
                            answer => {
                                break answer
                                    .with_context(|| format!("create task {i}"))?
                                    .into_inner();
                            }
                        }
                    };
                    made.push((i, created.id));
                }
            })
        })
        .collect();
    let mut made = Vec::with_capacity(count);
    for worker in workers {
        made.extend(worker.await.context("a seeding worker failed")??);
    }
    made.sort_unstable();
    Ok(made.into_iter().map(|(_, id)| id).collect())
}

impl Seed {
    /// Writes the seed as `key=value` lines.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = format!(
            "list={}\ndeep_page={}\ndeep_page_token={}\n",
            self.list_id, self.deep_page, self.deep_page_token
        );
        for id in &self.write_lists {
            text.push_str("write_list=");
            text.push_str(id);
            text.push('\n');
        }
        for id in &self.tasks {
            text.push_str("task=");
            text.push_str(id);
            text.push('\n');
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads what [`Seed::save`] wrote.
    ///
    /// # Errors
    /// When the file cannot be read or lacks a key.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let (mut list_id, mut deep_page, mut deep_page_token) = (None, None, None);
        let (mut tasks, mut write_lists) = (Vec::new(), Vec::new());
        for line in text.lines() {
            match line.split_once('=') {
                Some(("list", v)) => list_id = Some(v.to_owned()),
                Some(("deep_page", v)) => deep_page = Some(v.parse().context("deep_page")?),
                Some(("deep_page_token", v)) => deep_page_token = Some(v.to_owned()),
                Some(("task", v)) => tasks.push(v.to_owned()),
                Some(("write_list", v)) => write_lists.push(v.to_owned()),
                _ => bail!("{}: unexpected line {line:?}", path.display()),
            }
        }
        if tasks.is_empty() || write_lists.is_empty() {
            bail!("{}: no tasks or no lists for the writes", path.display());
        }
        Ok(Self {
            list_id: list_id.context("no list in the seed")?,
            deep_page: deep_page.context("no deep_page in the seed")?,
            deep_page_token: deep_page_token.context("no deep_page_token in the seed")?,
            tasks,
            write_lists,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_seed_loads_back() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("todo-load-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("seed");
        let seed = Seed {
            list_id: "l".to_owned(),
            deep_page: 3,
            deep_page_token: "a=b".to_owned(),
            tasks: vec!["t1".to_owned(), "t2".to_owned()],
            write_lists: vec!["w1".to_owned()],
        };
        seed.save(&path)?;
        let loaded = Seed::load(&path)?;
        std::fs::remove_dir_all(&dir)?;
        assert_eq!(loaded.list_id, "l");
        assert_eq!(loaded.deep_page, 3);
        assert_eq!(loaded.deep_page_token, "a=b");
        assert_eq!(loaded.tasks, seed.tasks);
        assert_eq!(loaded.write_lists, seed.write_lists);
        Ok(())
    }
}
