//! A `croupier serve` process talking to the fake Bot API, and what the fake was asked.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use simulation::fake::FakeTelegram;

use super::Scratch;

/// The bot's token, as the server under test and the fake know it.
pub const TOKEN: &str = "123456:test-token_ABC";
/// The webhook secret Telegram would send with each update.
pub const SECRET: &str = "webhook-secret_1";
/// How long a test waits for the bot to do something.
pub const WAIT: Duration = Duration::from_secs(20);

/// A `croupier serve` process, stopped on drop.
pub struct Server {
    pub child: Child,
    pub address: String,
    pub database_url: String,
    _dir: Option<Scratch>,
}

impl Server {
    /// Starts `croupier serve` on `database_url`, talking to `fake`; `dir` is kept until
    /// the server is dropped.
    pub fn start(database_url: &str, fake: &FakeTelegram, dir: Option<Scratch>) -> Self {
        Self::start_with(database_url, fake, dir, &[])
    }

    /// As [`Server::start`], with more `serve` flags.
    pub fn start_with(
        database_url: &str,
        fake: &FakeTelegram,
        dir: Option<Scratch>,
        flags: &[&str],
    ) -> Self {
        Self::start_env(database_url, fake, dir, flags, &[])
    }

    /// As [`Server::start_with`], with more environment variables.
    pub fn start_env(
        database_url: &str,
        fake: &FakeTelegram,
        dir: Option<Scratch>,
        flags: &[&str],
        envs: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_croupier"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(flags)
            .envs(envs.iter().copied())
            .env("DATABASE_URL", database_url)
            .env("TELEGRAM_BOT_TOKEN", TOKEN)
            .env("TELEGRAM_WEBHOOK_SECRET", SECRET)
            .env("TELEGRAM_API_URL", fake.url())
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("croupier starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let address = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Self {
            child,
            address,
            database_url: database_url.to_owned(),
            _dir: dir,
        }
    }

    /// Posts `update` to the webhook with the right secret; the status it answered.
    pub async fn post(&self, update: &Value) -> reqwest::StatusCode {
        self.post_with(update, Some(SECRET)).await.0
    }

    /// Posts `update` with `secret` (none if `None`); the status and any `Retry-After`.
    pub async fn post_with(
        &self,
        update: &Value,
        secret: Option<&str>,
    ) -> (reqwest::StatusCode, Option<String>) {
        let mut request = reqwest::Client::new()
            .post(format!("http://{}/telegram/webhook", self.address))
            .header("content-type", "application/json")
            .body(update.to_string());
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        let response = request.send().await.unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status(), retry_after)
    }

    /// SIGTERM, then the exit status. Waits without blocking the runtime, which serves
    /// the fake Bot API the server is still talking to.
    pub async fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Texts of the successful sendMessage calls so far.
pub fn texts(fake: &FakeTelegram) -> Vec<String> {
    fake.succeeded("sendMessage")
        .iter()
        .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits for a sent message containing `needle` and returns the latest such.
pub async fn wait_for_text(fake: &FakeTelegram, needle: &str) -> String {
    let found = fake
        .wait_for(WAIT, |calls| {
            calls.iter().any(|c| {
                c.method == "sendMessage"
                    && c.fault.is_none()
                    && c.params["text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains(needle)
            })
        })
        .await;
    let all = texts(fake);
    assert!(found, "no message containing {needle:?}; sent: {all:#?}");
    all.into_iter().rev().find(|t| t.contains(needle)).unwrap()
}

/// How many messages sent so far contain `needle`.
pub fn sent_with(fake: &FakeTelegram, needle: &str) -> usize {
    texts(fake).iter().filter(|t| t.contains(needle)).count()
}

/// Waits for `n` answers to pre-checkout queries and returns them all.
pub async fn answers(fake: &FakeTelegram, n: usize) -> Vec<Value> {
    assert!(
        fake.wait_for(WAIT, |_| fake.succeeded("answerPreCheckoutQuery").len()
            >= n)
            .await,
        "no pre-checkout answer"
    );
    fake.succeeded("answerPreCheckoutQuery")
}

/// `croupier payments reconcile FLAGS` against the fake; (exit code, stdout, stderr).
pub async fn reconcile(url: &str, api_url: &str, flags: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_croupier"))
        .args(["payments", "reconcile"])
        .args(flags)
        .env("DATABASE_URL", url)
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_API_URL", api_url)
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
