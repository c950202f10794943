//! The task service's SQL, one module per table group. Every read of a
//! task or list joins the caller's membership (see `access`).

pub mod invitations;
pub mod links;
pub mod lists;
pub mod tasks;
pub mod zones;

#[cfg(test)]
pub(crate) mod tests;
