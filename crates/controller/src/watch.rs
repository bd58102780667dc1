//! Reflectors over the three kinds and Secrets, one store per kind and watched namespace.

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::error::Error;
use crate::metrics::ControllerMetrics;
use crate::translate::Observed;
use bytespike_config::{ApiKey, Provider, RoutingGroup, Secret};

/// The stores of one kind, one per watched namespace (or one for all namespaces).
pub(crate) struct Stores<K: Resource + 'static>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    kind: &'static str,
    stores: Vec<Store<K>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl<K: Resource + 'static> Drop for Stores<K>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl<K> Stores<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Default,
{
    /// Starts a reflector per namespace; every event (and error) pokes `changed`.
    pub(crate) fn spawn(
        client: &Client,
        namespaces: &[String],
        kind: &'static str,
        config: watcher::Config,
        changed: Arc<Notify>,
        metrics: Arc<ControllerMetrics>,
    ) -> Self
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    {
        let apis: Vec<Api<K>> = if namespaces.is_empty() {
            vec![Api::all(client.clone())]
        } else {
            namespaces
                .iter()
                .map(|ns| Api::namespaced(client.clone(), ns))
                .collect()
        };
        let mut stores = Vec::with_capacity(apis.len());
        let mut tasks = Vec::with_capacity(apis.len());
        for api in apis {
            // Separate stores per namespace: each watcher's initial list replaces its store's
            // whole content, which would wipe the other namespaces' objects in a shared one.
            let (reader, writer) = reflector::store::<K>();
            let stream =
                reflector::reflector(writer, watcher(api, config.clone()).default_backoff());
            let changed = changed.clone();
            let metrics = metrics.clone();
            tasks.push(tokio::spawn(async move {
                stream
                    .for_each(|event| {
                        match event {
                            Ok(_) => {
                                metrics.watch_events.with_label_values(&[kind]).inc();
                                changed.notify_one();
                            }
                            Err(e) => {
                                metrics.watch_errors.with_label_values(&[kind]).inc();
                                tracing::warn!(kind, error = %e, "watch failed; retrying with backoff");
                            }
                        }
                        futures::future::ready(())
                    })
                    .await;
            }));
            stores.push(reader);
        }
        Stores {
            kind,
            stores,
            tasks,
        }
    }

    /// Waits until every store has completed its first full list.
    pub(crate) async fn synced(&self) -> Result<(), Error> {
        for store in &self.stores {
            store
                .wait_until_ready()
                .await
                .map_err(|_| Error::WatcherGone(self.kind))?;
        }
        Ok(())
    }

    fn state(&self) -> Vec<Arc<K>> {
        self.stores.iter().flat_map(Store::state).collect()
    }
}

/// Every watched kind's stores.
pub(crate) struct Watched {
    pub(crate) providers: Stores<Provider>,
    pub(crate) routing_groups: Stores<RoutingGroup>,
    pub(crate) api_keys: Stores<ApiKey>,
    pub(crate) secrets: Stores<Secret>,
}

impl Watched {
    pub(crate) fn spawn(
        client: &Client,
        namespaces: &[String],
        changed: Arc<Notify>,
        metrics: Arc<ControllerMetrics>,
    ) -> Self {
        let plain = watcher::Config::default();
        // Service-account tokens are never referenced by the gateway's objects and can be many.
        let secrets =
            watcher::Config::default().fields("type!=kubernetes.io/service-account-token");
        Watched {
            providers: Stores::spawn(
                client,
                namespaces,
                "Provider",
                plain.clone(),
                changed.clone(),
                metrics.clone(),
            ),
            routing_groups: Stores::spawn(
                client,
                namespaces,
                "RoutingGroup",
                plain.clone(),
                changed.clone(),
                metrics.clone(),
            ),
            api_keys: Stores::spawn(
                client,
                namespaces,
                "ApiKey",
                plain,
                changed.clone(),
                metrics.clone(),
            ),
            secrets: Stores::spawn(client, namespaces, "Secret", secrets, changed, metrics),
        }
    }

    pub(crate) async fn synced(&self) -> Result<(), Error> {
        self.providers.synced().await?;
        self.routing_groups.synced().await?;
        self.api_keys.synced().await?;
        self.secrets.synced().await
    }

    pub(crate) fn observed(&self) -> Observed {
        Observed {
            providers: self.providers.state(),
            routing_groups: self.routing_groups.state(),
            api_keys: self.api_keys.state(),
            secrets: self.secrets.state(),
        }
    }
}
