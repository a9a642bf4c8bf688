//! Supervision of `serve`'s long-running tasks (the update receiver, the dispatcher, the
//! session sweeper, the projector, the ledger writer). A task that panics, fails, or
//! ends before it was asked to stop is fatal: readiness says so at once ([`Health`]) and
//! `serve` stops and exits non-zero, so that its supervisor restarts it, rather than
//! limping on with `/healthz` at 200 and nothing moving.

use std::future::Future;

use tokio::sync::watch;

/// Whether every supervised task is alive; cheap to clone, read by `/readyz`.
#[derive(Clone, Debug)]
pub struct Health {
    failed: watch::Receiver<Option<String>>,
}

impl Health {
    /// A health that never fails (nothing is supervised: tests, benches).
    pub fn untended() -> Self {
        Self {
            failed: watch::channel(None).1,
        }
    }

    /// What died first, if anything did.
    pub fn failure(&self) -> Option<String> {
        self.failed.borrow().clone()
    }

    /// Resolves with what died first, once something has.
    pub async fn failed(mut self) -> String {
        let failure = match self.failed.wait_for(Option::is_some).await {
            Ok(failure) => failure.clone(),
            Err(_) => None,
        };
        match failure {
            Some(failure) => failure,
            // The supervisor is gone: nothing more is supervised.
            None => std::future::pending().await,
        }
    }
}

/// Spawns and watches long-running tasks.
pub struct Supervisor {
    failed: watch::Sender<Option<String>>,
    stop: watch::Receiver<bool>,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
}

impl Supervisor {
    /// A supervisor whose tasks may end once `stop` is true.
    pub fn new(stop: watch::Receiver<bool>) -> Self {
        Self {
            failed: watch::channel(None).0,
            stop,
            tasks: Vec::new(),
        }
    }

    pub fn health(&self) -> Health {
        Health {
            failed: self.failed.subscribe(),
        }
    }

    /// Records that `name` died (the first death is the one reported).
    fn fail(failed: &watch::Sender<Option<String>>, failure: String) {
        tracing::error!(failure = %failure, "a long-running task died; stopping");
        failed.send_if_modified(|first| {
            if first.is_some() {
                return false;
            }
            *first = Some(failure);
            true
        });
    }

    /// Runs `task` on its own; it must run until `stop` turns true. A panic, an `Err`,
    /// or an end before stop is a failure.
    pub fn spawn<F, E>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let inner = tokio::spawn(task);
        let (failed, stop) = (self.failed.clone(), self.stop.clone());
        let watcher = tokio::spawn(async move {
            let failure = match inner.await {
                Ok(Ok(())) if *stop.borrow() => return,
                Ok(Ok(())) => format!("{name} ended before it was asked to stop"),
                Ok(Err(error)) => format!("{name} failed: {error}"),
                Err(join) if join.is_panic() => format!("{name} panicked"),
                Err(_) => format!("{name} was cancelled"),
            };
            Self::fail(&failed, failure);
        });
        self.tasks.push((name, watcher));
    }

    /// Watches `watch`, a future that resolves only if something outside the supervised
    /// tasks died (the ledger writer): its answer is the failure.
    pub fn watch<F>(&mut self, name: &'static str, watch: F)
    where
        F: Future<Output = String> + Send + 'static,
    {
        let (failed, mut stop) = (self.failed.clone(), self.stop.clone());
        let watcher = tokio::spawn(async move {
            tokio::select! {
                failure = watch => Self::fail(&failed, format!("{name}: {failure}")),
                _ = stop.wait_for(|stop| *stop) => {}
            }
        });
        self.tasks.push((name, watcher));
    }

    /// Waits for every task to end, at most until `deadline`; names those still running.
    pub async fn join(self, deadline: tokio::time::Instant) -> Vec<&'static str> {
        let mut late = Vec::new();
        for (name, mut task) in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                late.push(name);
            }
        }
        late
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_fails_health_and_a_stopped_one_does_not() {
        let (stop_tx, stop) = watch::channel(false);
        let mut supervisor = Supervisor::new(stop.clone());
        let health = supervisor.health();
        let mut quiet = stop.clone();
        supervisor.spawn("quiet", async move {
            let _ = quiet.wait_for(|s| *s).await;
            Ok::<(), String>(())
        });
        assert_eq!(health.failure(), None);
        supervisor.spawn("sweeper", async {
            panic!("boom");
            #[allow(unreachable_code)]
            Ok::<(), String>(())
        });
        let failure =
            tokio::time::timeout(std::time::Duration::from_secs(5), health.clone().failed())
                .await
                .unwrap();
        assert_eq!(failure, "sweeper panicked");
        stop_tx.send(true).unwrap();
        let late = supervisor
            .join(tokio::time::Instant::now() + std::time::Duration::from_secs(5))
            .await;
        assert!(late.is_empty());
        assert_eq!(health.failure().as_deref(), Some("sweeper panicked"));
    }
}
