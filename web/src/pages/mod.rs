//! The pages, one module per area, and the routes that reach them.

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub mod auth;
pub mod from_url;
pub mod inbox;
pub mod invitations;
pub mod lists;
pub mod moves;
pub mod settings;
pub mod sharing;
pub mod tasks;

/// Every page's route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(auth::landing))
        .route("/sign-up", get(auth::sign_up_page).post(auth::sign_up))
        .route("/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route("/sign-out", post(auth::sign_out))
        .route("/verify-email", get(auth::verify_page).post(auth::verify))
        .route(
            "/forgot-password",
            get(auth::forgot_page).post(auth::forgot),
        )
        .route("/reset-password", get(auth::reset_page).post(auth::reset))
        .route("/resend-verification", post(auth::resend_verification))
        .route("/language", post(auth::language))
        .route(
            "/tasks",
            get(tasks::default_list).post(tasks::create_default),
        )
        .route("/tasks/from-url", post(from_url::create_default))
        .route("/lists/{id}/from-url", post(from_url::create_in_list))
        .route("/tasks/{id}/edit", get(tasks::edit_page).post(tasks::edit))
        .route("/tasks/{id}/done", post(tasks::set_done))
        .route("/tasks/{id}/delete", post(tasks::delete))
        .route(
            "/tasks/{id}/subtasks",
            get(tasks::subtasks).post(tasks::create_subtask),
        )
        .route("/tasks/{id}/move", post(moves::move_task))
        .route("/lists", get(lists::page).post(lists::create))
        .route("/lists/{id}", get(tasks::list))
        .route("/lists/{id}/tasks", post(tasks::create_in_list))
        .route("/lists/{id}/settings", post(sharing::update))
        .route(
            "/lists/{id}/delete",
            get(lists::delete_page).post(lists::delete),
        )
        .route("/lists/{id}/members", get(sharing::page))
        .route("/lists/{id}/members/invite", post(sharing::invite))
        .route("/lists/{id}/members/{user}/role", post(sharing::set_role))
        .route("/lists/{id}/members/{user}/remove", post(sharing::remove))
        .route("/lists/{id}/leave", post(sharing::leave))
        .route("/invitations", get(invitations::page))
        .route("/invitations/{id}/accept", post(invitations::accept))
        .route("/invitations/{id}/decline", post(invitations::decline))
        .route("/inbox", get(inbox::list))
        .route("/inbox/{id}/read", post(inbox::mark_read))
        .route("/inbox/read-all", post(inbox::mark_all_read))
        .route("/settings", get(settings::page).post(settings::save))
        .route("/settings/password", post(settings::change_password))
        .route("/settings/delete", post(settings::delete_account))
}
