//! The pages of accounts without a session: landing, sign up, sign in and
//! out, e-mail verification, password reset, language switch.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use todo_proto::todo::user::v1::{
    CreateUserRequest, LoginRequest, LogoutRequest, RequestPasswordResetRequest,
    ResendVerificationRequest, ResetPasswordRequest, VerifyEmailRequest,
};

use crate::forms::Errors;
use crate::i18n::Lang;
use crate::page::{Chrome, Ctx, Form};
use crate::session::Session;

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    c: Chrome,
}

pub async fn landing(ctx: Ctx) -> Response {
    if ctx.session.is_some() {
        return ctx.redirect("/tasks");
    }
    let c = ctx.chrome("app_name").await;
    ctx.page(&Landing { c })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SignUp {
    display_name: String,
    email: String,
    password: String,
}

#[derive(Template)]
#[template(path = "sign_up.html")]
struct SignUpPage {
    c: Chrome,
    form: SignUp,
    errors: Errors,
}

pub async fn sign_up_page(ctx: Ctx) -> Response {
    let c = ctx.chrome("sign_up").await;
    ctx.page(&SignUpPage {
        c,
        form: SignUp::default(),
        errors: Errors::none(),
    })
}

pub async fn sign_up(Form { ctx, form }: Form<SignUp>) -> Response {
    let request = ctx.request(CreateUserRequest {
        email: form.email.clone(),
        password: form.password.clone(),
        display_name: form.display_name.clone(),
    });
    match ctx.services().user.clone().create_user(request).await {
        // The same page whether or not the address was registered already,
        // as the service answers the same.
        Ok(_) => {
            ctx.message(StatusCode::OK, "check_email_title", "check_email_text")
                .await
        }
        Err(status) => {
            let errors = Errors::from_status(&status, ctx.lang);
            let c = ctx.chrome("sign_up").await;
            let form = SignUp {
                // A password is never sent back to the browser.
                password: String::new(),
                ..form
            };
            ctx.page_with_status(StatusCode::BAD_REQUEST, &SignUpPage { c, form, errors })
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignIn {
    email: String,
    password: String,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    c: Chrome,
    form: SignIn,
    errors: Errors,
}

pub async fn sign_in_page(ctx: Ctx) -> Response {
    let c = ctx.chrome("sign_in").await;
    ctx.page(&SignInPage {
        c,
        form: SignIn::default(),
        errors: Errors::none(),
    })
}

pub async fn sign_in(Form { mut ctx, form }: Form<SignIn>) -> Response {
    let request = ctx.services().request(
        LoginRequest {
            email: form.email.clone(),
            password: form.password,
        },
        ctx.client,
        None,
    );
    match ctx.services().user.clone().login(request).await {
        Ok(pair) => {
            ctx.sign_in(Session::from_pair(pair.into_inner()));
            ctx.redirect("/tasks")
        }
        Err(status) => {
            let errors = Errors::from_status(&status, ctx.lang);
            let c = ctx.chrome("sign_in").await;
            let form = SignIn {
                email: form.email,
                password: String::new(),
            };
            ctx.page_with_status(StatusCode::BAD_REQUEST, &SignInPage { c, form, errors })
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Empty {}

pub async fn sign_out(Form { mut ctx, .. }: Form<Empty>) -> Response {
    if let Some(session) = ctx.session.clone() {
        let request = ctx.request(LogoutRequest {
            refresh_token: session.refresh_token,
        });
        // The browser forgets the session whatever the service says; a
        // failure is logged so that an unrevoked token does not go unseen.
        if let Err(status) = ctx.services().user.clone().logout(request).await {
            tracing::warn!(code = ?status.code(), "sign-out could not revoke the refresh token");
        }
    }
    ctx.sign_out();
    ctx.redirect("/")
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenQuery {
    token: String,
}

#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyPage {
    c: Chrome,
    token: String,
}

/// Shows a button only: mail scanners that follow the link change nothing.
pub async fn verify_page(ctx: Ctx, Query(query): Query<TokenQuery>) -> Response {
    let c = ctx.chrome("verify_title").await;
    ctx.page(&VerifyPage {
        c,
        token: query.token,
    })
}

pub async fn verify(Form { ctx, form }: Form<TokenQuery>) -> Response {
    let request = ctx.request(VerifyEmailRequest { token: form.token });
    match ctx.services().user.clone().verify_email(request).await {
        Ok(_) => {
            ctx.message(StatusCode::OK, "verify_title", "verified_text")
                .await
        }
        Err(status) => {
            tracing::debug!(code = ?status.code(), "verification refused");
            ctx.message(StatusCode::BAD_REQUEST, "verify_title", "err_link")
                .await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Forgot {
    email: String,
}

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPage {
    c: Chrome,
    form: Forgot,
    errors: Errors,
}

pub async fn forgot_page(ctx: Ctx) -> Response {
    let c = ctx.chrome("forgot_title").await;
    ctx.page(&ForgotPage {
        c,
        form: Forgot::default(),
        errors: Errors::none(),
    })
}

pub async fn forgot(Form { ctx, form }: Form<Forgot>) -> Response {
    let request = ctx.request(RequestPasswordResetRequest {
        email: form.email.clone(),
    });
    match ctx
        .services()
        .user
        .clone()
        .request_password_reset(request)
        .await
    {
        Ok(_) => {
            ctx.message(StatusCode::OK, "forgot_title", "reset_sent_text")
                .await
        }
        Err(status) => {
            let errors = Errors::from_status(&status, ctx.lang);
            let c = ctx.chrome("forgot_title").await;
            ctx.page_with_status(StatusCode::BAD_REQUEST, &ForgotPage { c, form, errors })
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Reset {
    token: String,
    new_password: String,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage {
    c: Chrome,
    token: String,
    errors: Errors,
}

pub async fn reset_page(ctx: Ctx, Query(query): Query<TokenQuery>) -> Response {
    let c = ctx.chrome("reset_title").await;
    ctx.page(&ResetPage {
        c,
        token: query.token,
        errors: Errors::none(),
    })
}

pub async fn reset(Form { ctx, form }: Form<Reset>) -> Response {
    let request = ctx.request(ResetPasswordRequest {
        token: form.token.clone(),
        new_password: form.new_password,
    });
    match ctx.services().user.clone().reset_password(request).await {
        Ok(_) => {
            ctx.message(StatusCode::OK, "reset_title", "reset_done_text")
                .await
        }
        Err(status) => {
            let errors = Errors::from_status(&status, ctx.lang);
            let c = ctx.chrome("reset_title").await;
            ctx.page_with_status(
                StatusCode::BAD_REQUEST,
                &ResetPage {
                    c,
                    token: form.token,
                    errors,
                },
            )
        }
    }
}

pub async fn resend_verification(Form { mut ctx, .. }: Form<Empty>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(ResendVerificationRequest {});
    match ctx
        .services()
        .user
        .clone()
        .resend_verification(request)
        .await
    {
        Ok(_) => {
            ctx.message(StatusCode::OK, "verify_title", "verification_sent_text")
                .await
        }
        Err(status) => ctx.failed(&status).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Language {
    lang: String,
    back: String,
}

/// Sets the `lang` cookie, which outranks `Accept-Language`, and goes back
/// to the page the switch was pressed on (a local path only, so the form
/// cannot be used to send anyone elsewhere).
pub async fn language(Form { mut ctx, form }: Form<Language>) -> Response {
    if let Some(lang) = Lang::from_code(&form.lang) {
        let cookie = crate::session::cookie(
            crate::i18n::COOKIE,
            lang.code().to_owned(),
            ctx.state.inner.secure_cookies,
        );
        ctx.jar = ctx.jar.clone().add(cookie);
    }
    ctx.redirect_back(&form.back, "/")
}
