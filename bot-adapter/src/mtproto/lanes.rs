//! Inputs of one chat handled in order, chats in parallel up to a bound: what Telegram
//! does for a webhook, done here because MTProto hands over one stream for all chats.
//!
//! The owner (the update loop) is the only one that adds work and hears that a job is
//! done, so a chat's queue never races with its worker: a chat is busy while it has an
//! entry in `queues`, and its next job starts when its last one finished.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// One unit of work for a chat.
pub type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct Lanes {
    /// Jobs waiting behind the running one, per busy chat.
    queues: HashMap<i64, VecDeque<Job>>,
    running: JoinSet<i64>,
    permits: Arc<Semaphore>,
}

impl Lanes {
    /// At most `parallel_max` chats are handled at once.
    pub fn new(parallel_max: usize) -> Self {
        Self {
            queues: HashMap::new(),
            running: JoinSet::new(),
            permits: Arc::new(Semaphore::new(parallel_max.max(1))),
        }
    }

    /// Queues `job` behind the chat's earlier jobs.
    pub fn push(&mut self, chat: i64, job: Job) {
        match self.queues.get_mut(&chat) {
            Some(queue) => queue.push_back(job),
            None => {
                self.queues.insert(chat, VecDeque::new());
                self.start(chat, job);
            }
        }
    }

    fn start(&mut self, chat: i64, job: Job) {
        let permits = self.permits.clone();
        self.running.spawn(async move {
            let _permit = permits.acquire_owned().await;
            job.await;
            chat
        });
    }

    /// Waits for a job to finish and starts the next of its chat. `None` when idle.
    pub async fn next_done(&mut self) -> Option<()> {
        let joined = self.running.join_next().await?;
        // A job that panicked is gone; its chat carries on with the next one.
        let chat = match joined {
            Ok(chat) => chat,
            Err(error) => {
                tracing::error!(error = %error, "mtproto: an update's handler panicked");
                return Some(());
            }
        };
        let next = self.queues.get_mut(&chat).and_then(VecDeque::pop_front);
        match next {
            Some(job) => self.start(chat, job),
            None => {
                self.queues.remove(&chat);
            }
        }
        Some(())
    }

    /// True when nothing is running or waiting.
    pub fn idle(&self) -> bool {
        self.running.is_empty()
    }

    /// How many jobs are running or waiting.
    pub fn pending(&self) -> usize {
        self.running.len() + self.queues.values().map(VecDeque::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_chat_in_order_chats_in_parallel_within_the_bound() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut lanes = Lanes::new(2);
        for step in 0..3 {
            for chat in [1_i64, 2, 3] {
                let (log, running, peak) = (log.clone(), running.clone(), peak.clone());
                lanes.push(
                    chat,
                    Box::pin(async move {
                        use std::sync::atomic::Ordering::SeqCst;
                        let now = running.fetch_add(1, SeqCst) + 1;
                        peak.fetch_max(now, SeqCst);
                        // Later steps are quicker: out of order if a chat ran in parallel.
                        tokio::time::sleep(Duration::from_millis(30 - step * 10)).await;
                        log.lock().unwrap().push((chat, step));
                        running.fetch_sub(1, SeqCst);
                    }),
                );
            }
        }
        assert_eq!(lanes.pending(), 9);
        while lanes.next_done().await.is_some() {}
        assert!(lanes.idle());
        let log = log.lock().unwrap();
        for chat in [1, 2, 3] {
            let steps: Vec<u64> = log
                .iter()
                .filter(|(c, _)| *c == chat)
                .map(|(_, s)| *s)
                .collect();
            assert_eq!(steps, [0, 1, 2], "chat {chat}");
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
