//! "New task from a web page": a URL and a list, sent to the task
//! service's `CreateTaskFromUrl`, which reads the page and makes the task.
//! A page that cannot be read is an error of the URL field.

use axum::extract::Path;
use axum::response::Response;
use todo_proto::todo::task::v1::CreateTaskFromUrlRequest;
use tonic_types::StatusExt;

use crate::forms::Errors;
use crate::i18n::Lang;
use crate::page::Form;
use crate::pages::tasks::{At, Filter, FromUrlForm, TaskForm, show_with};
use crate::schedule;

pub async fn create_default(form: Form<FromUrlForm>) -> Response {
    create(At::Default, form).await
}

pub async fn create_in_list(Path(id): Path<String>, form: Form<FromUrlForm>) -> Response {
    create(At::List(id), form).await
}

/// Makes the task, then shows the page the form was on (with the URL's
/// error, when the page could not be read).
async fn create(at: At, Form { mut ctx, mut form }: Form<FromUrlForm>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(CreateTaskFromUrlRequest {
        url: form.url.trim().to_owned(),
        list_id: form.list_id.clone(),
    });
    let Err(status) = ctx
        .services()
        .task
        .clone()
        .create_task_from_url(request)
        .await
    else {
        return ctx.redirect(&at.here());
    };
    if matches!(
        status.code(),
        tonic::Code::PermissionDenied | tonic::Code::NotFound
    ) {
        // A list the user may not write or cannot see: no form shows it.
        return ctx.failed(&status).await;
    }
    let tz = match schedule::user_zone(&ctx).await {
        Ok(tz) => tz,
        Err(status) => return ctx.failed(&status).await,
    };
    form.errors = errors_of(&status, ctx.lang);
    show_with(
        ctx,
        at,
        Filter::default(),
        tz,
        TaskForm::default(),
        Errors::none(),
        form,
    )
    .await
}

/// The form's errors for a failed call: a page that could not be read is
/// the URL's error, in the user's language.
fn errors_of(status: &tonic::Status, lang: Lang) -> Errors {
    let unreadable = status
        .get_details_error_info()
        .is_some_and(|info| info.reason == todo_common::status::LINK_FETCH_FAILED);
    if unreadable {
        let mut errors = Errors::none();
        errors.add("url", lang.t("from_url_failed"));
        return errors;
    }
    Errors::from_status(status, lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_page_is_the_url_fields_error_in_the_users_language() {
        let status = todo_common::status::link_fetch_failed("url", "NOT_HTML", "not an HTML page");
        let errors = errors_of(&status, Lang::De);
        assert_eq!(errors.get("url"), Lang::De.t("from_url_failed"));
        assert!(errors.form.is_none());
    }
}
