//! Gateway configuration: resource types, YAML loading, and the immutable snapshot the proxy reads.

pub mod error;
pub mod loader;
pub mod money;
pub mod resources;
pub mod snapshot;
pub mod window;

pub use error::{
    AuthError, Invalid, InvalidObjects, LoadError, MoneyError, RouteError, WindowError,
};
pub use loader::{fingerprint_path, load_path, load_path_fingerprinted, load_str, Fingerprint};
pub use resources::{ApiKey, Kind, Provider, Resources, RoutingGroup, Secret};
pub use snapshot::Snapshot;
