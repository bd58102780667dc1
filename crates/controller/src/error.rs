//! Why the controller could not start or keep running.

/// A failure of the controller as a whole (single API calls are retried, not surfaced here).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kube client could not be built from the inferred config.
    #[error("building the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// A watcher's store writer went away before its first full list.
    #[error("the {0} watcher stopped before its first full sync")]
    WatcherGone(&'static str),
    /// A header value (the User-Agent carrying the replica identity) is not valid.
    #[error("identity {0:?} cannot be sent in a header")]
    Identity(String),
}
