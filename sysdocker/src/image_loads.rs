//! The images one `up` needs, each fetched once. From the moment `up` starts, the distinct
//! images load side by side in the graph's order (at most `ImageSources::parallel_loads` at a
//! time), so a late service's big image (the console's) loads while udev and the network come
//! up rather than after them. A service that needs its image before its turn starts it at once.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{OnceCell, Semaphore};

use crate::client::DaemonClient;
use crate::error::{Error, Result};
use crate::images::{ensure_image, ImageSources};
use crate::scope::Scope;

/// The image's id, or why it could not be had (shared by every service naming it, hence Arc).
type Outcome = std::result::Result<String, Arc<Error>>;

/// One image a service wants, on the daemon of its scope.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub client: DaemonClient,
    pub scope: Scope,
    /// The first service naming it: the prefetch's errors are logged under its name.
    pub service: String,
    pub image: String,
}

/// Fetch-once cells for a fixed set of (scope, image).
pub struct ImageLoads {
    sources: ImageSources,
    cells: HashMap<(Scope, String), OnceCell<Outcome>>,
}

impl ImageLoads {
    /// A cell for each distinct image of `wanted`, whose fetches then start in the background
    /// in `wanted`'s order, `parallel_loads` at a time.
    pub fn start(wanted: Vec<Wanted>, sources: ImageSources) -> Arc<ImageLoads> {
        let mut cells = HashMap::new();
        let mut queue = Vec::new();
        for w in wanted {
            if cells
                .insert((w.scope, w.image.clone()), OnceCell::new())
                .is_none()
            {
                queue.push(w);
            }
        }
        let loads = Arc::new(ImageLoads { sources, cells });
        loads.prefetch(queue);
        loads
    }

    fn prefetch(self: &Arc<Self>, queue: Vec<Wanted>) {
        let permits = Arc::new(Semaphore::new(self.sources.parallel_loads.max(1)));
        let loads = self.clone();
        tokio::spawn(async move {
            for w in queue {
                // Taken before the spawn, so the loads begin in the graph's order.
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let loads = loads.clone();
                tokio::spawn(async move {
                    if let Err(e) = loads.get(&w.client, w.scope, &w.service, &w.image).await {
                        tracing::debug!(image = %w.image, error = %e, "image prefetch failed");
                    }
                    drop(permit);
                });
            }
        });
    }

    /// The id of `image` for `service`: present as is, else loaded or pulled (see
    /// [`ensure_image`]). Callers naming the same image share one fetch and its outcome.
    pub async fn get(
        &self,
        client: &DaemonClient,
        scope: Scope,
        service: &str,
        image: &str,
    ) -> Result<String> {
        let Some(cell) = self.cells.get(&(scope, image.to_string())) else {
            return ensure_image(client, service, image, &self.sources).await;
        };
        let outcome = cell
            .get_or_init(|| async {
                ensure_image(client, service, image, &self.sources)
                    .await
                    .map_err(Arc::new)
            })
            .await;
        outcome.clone().map_err(|e| Error::ImageMissing {
            service: service.to_string(),
            image: image.to_string(),
            reason: reason(&e),
        })
    }
}

/// The part of a fetch error that holds for every service naming the image.
fn reason(e: &Error) -> String {
    match e {
        Error::ImageMissing { reason, .. } => reason.clone(),
        other => format!("loading it failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_image_reason_is_kept_without_the_first_service() {
        let e = Error::ImageMissing {
            service: "first".into(),
            image: "x:1".into(),
            reason: "no bundled archive has it (pulling is off)".into(),
        };
        assert_eq!(reason(&e), "no bundled archive has it (pulling is off)");
        let e = Error::Timeout {
            what: "pulling x:1".into(),
            seconds: 3,
        };
        assert_eq!(
            reason(&e),
            "loading it failed: timed out after 3 s: pulling x:1"
        );
    }
}
