//! The hook through which the limiter reports per-window usage for ApiKey status.

use async_trait::async_trait;
use bytespike_config::resources::WindowUsage;
use bytespike_config::snapshot::KeyEntry;

/// Supplies the `usage` an ApiKey's status shows; the binary provides it once limits are wired.
///
/// Without one, the controller leaves `status.usage` untouched rather than writing guesses.
#[async_trait]
pub trait UsageSource: Send + Sync {
    /// The key's use in each of its windows, or `None` when it cannot be known right now (the
    /// status then keeps what it had).
    async fn usage(&self, key: &KeyEntry) -> Option<Vec<WindowUsage>>;
}
