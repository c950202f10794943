//! The pages, one module per area, and the routes that reach them.

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub mod auth;
pub mod inbox;
pub mod settings;
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
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route("/tasks/{id}/edit", get(tasks::edit_page).post(tasks::edit))
        .route("/tasks/{id}/done", post(tasks::set_done))
        .route("/tasks/{id}/delete", post(tasks::delete))
        .route("/inbox", get(inbox::list))
        .route("/inbox/{id}/read", post(inbox::mark_read))
        .route("/inbox/read-all", post(inbox::mark_all_read))
        .route("/settings", get(settings::page).post(settings::save))
        .route("/settings/password", post(settings::change_password))
        .route("/settings/delete", post(settings::delete_account))
}
