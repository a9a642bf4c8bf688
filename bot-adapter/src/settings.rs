//! Checks of what an operator configures (bot token, webhook secret, payment provider,
//! MTProto keys), made before anything starts. No message ever shows a secret.

use ledger::{Currencies, CurrencyCode};

/// A setting that cannot be used, and what to do about it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("TELEGRAM_BOT_TOKEN does not look like a bot token (digits, ':', then letters, digits, _ or -)")]
    Token,
    #[error("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")]
    Secret,
    #[error("TELEGRAM_PROVIDER_TOKEN does not look like a provider token (1-256 visible ASCII characters)")]
    ProviderToken,
    #[error("the provider currency '{given}' is not one the ledger holds ({known})")]
    ProviderCurrency { given: String, known: String },
    #[error("name at least one provider currency (--provider-currencies USD)")]
    NoProviderCurrency,
    #[error("MTProto needs TELEGRAM_API_ID (--api-id), from my.telegram.org")]
    NoApiId,
    #[error("TELEGRAM_API_ID must be a positive number, not '{0}'")]
    ApiId(String),
    #[error("MTProto needs TELEGRAM_API_HASH (--api-hash), from my.telegram.org")]
    NoApiHash,
    #[error("TELEGRAM_API_HASH does not look like an api_hash (32 hexadecimal digits)")]
    ApiHash,
    #[error("MTProto needs TELEGRAM_SESSION_FILE (--session-file), where the session is kept")]
    NoSessionFile,
}

/// Checks the token's shape (`123456:ABC...`) without ever printing it.
pub fn check_token(token: &str) -> Result<(), SettingsError> {
    let ok = token.split_once(':').is_some_and(|(id, rest)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    ok.then_some(()).ok_or(SettingsError::Token)
}

/// Checks the webhook secret Telegram accepts: 1-256 of A-Z a-z 0-9 _ -.
pub fn check_secret(secret: &str) -> Result<(), SettingsError> {
    let ok = (1..=256).contains(&secret.len())
        && secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    ok.then_some(()).ok_or(SettingsError::Secret)
}

/// Checks the provider settings without printing the token: a token of visible ASCII
/// (BotFather's look like `284685063:TEST:...`), and currencies the ledger knows other
/// than Stars. Returns the currencies, each once.
pub fn check_provider(
    token: &str,
    currencies: &[String],
) -> Result<Vec<CurrencyCode>, SettingsError> {
    if !((1..=256).contains(&token.len()) && token.chars().all(|c| c.is_ascii_graphic())) {
        return Err(SettingsError::ProviderToken);
    }
    let known = Currencies::default();
    let mut codes = Vec::new();
    for text in currencies {
        let code = CurrencyCode::new(text.trim().to_ascii_uppercase())
            .ok()
            .filter(|code| *code != CurrencyCode::xtr() && known.get(code).is_ok())
            .ok_or_else(|| {
                let known: Vec<String> = known
                    .codes()
                    .filter(|c| **c != CurrencyCode::xtr())
                    .map(ToString::to_string)
                    .collect();
                SettingsError::ProviderCurrency {
                    given: text.clone(),
                    known: known.join(", "),
                }
            })?;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    if codes.is_empty() {
        return Err(SettingsError::NoProviderCurrency);
    }
    Ok(codes)
}

/// The MTProto keys, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtprotoKeys {
    pub api_id: i32,
    pub api_hash: String,
    pub session_file: std::path::PathBuf,
}

/// Checks the MTProto settings without printing the api_hash: api_id a positive number,
/// api_hash 32 hexadecimal digits (as my.telegram.org gives them), a session file.
pub fn check_mtproto(
    api_id: Option<&str>,
    api_hash: Option<&str>,
    session_file: Option<&std::path::Path>,
) -> Result<MtprotoKeys, SettingsError> {
    let api_id = api_id.ok_or(SettingsError::NoApiId)?;
    let api_id = api_id
        .parse::<i32>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| SettingsError::ApiId(api_id.to_owned()))?;
    let api_hash = api_hash.ok_or(SettingsError::NoApiHash)?;
    if !(api_hash.len() == 32 && api_hash.chars().all(|c| c.is_ascii_hexdigit())) {
        return Err(SettingsError::ApiHash);
    }
    let session_file = session_file.ok_or(SettingsError::NoSessionFile)?;
    Ok(MtprotoKeys {
        api_id,
        api_hash: api_hash.to_owned(),
        session_file: session_file.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_a_secret_and_provider_currencies_are_checked_without_echoing_secrets() {
        assert_eq!(check_token("123:abc_DEF-1"), Ok(()));
        assert_eq!(check_token("abc:123"), Err(SettingsError::Token));
        assert_eq!(check_token("123:"), Err(SettingsError::Token));
        assert_eq!(check_secret("ok_secret-1"), Ok(()));
        assert_eq!(check_secret("no spaces"), Err(SettingsError::Secret));
        assert_eq!(check_secret(&"a".repeat(257)), Err(SettingsError::Secret));
        let usd = check_provider("284685063:TEST:x", &["usd".into(), "USD".into()]).unwrap();
        assert_eq!(usd, [CurrencyCode::new("USD").unwrap()]);
        assert!(matches!(
            check_provider("284685063:TEST:x", &["XTR".into()]),
            Err(SettingsError::ProviderCurrency { .. })
        ));
        assert_eq!(
            check_provider("tok en", &["USD".into()]),
            Err(SettingsError::ProviderToken)
        );
        assert_eq!(
            check_provider("t", &[]),
            Err(SettingsError::NoProviderCurrency)
        );
        let hash = "0123456789abcdef0123456789abcdef";
        let file = std::path::Path::new("s.session");
        assert_eq!(
            check_mtproto(Some("0"), Some(hash), Some(file)),
            Err(SettingsError::ApiId("0".into()))
        );
        assert_eq!(
            check_mtproto(Some("7"), Some("xyz"), Some(file)),
            Err(SettingsError::ApiHash)
        );
        assert_eq!(
            check_mtproto(Some("7"), Some(hash), None),
            Err(SettingsError::NoSessionFile)
        );
        assert_eq!(
            check_mtproto(Some("7"), Some(hash), Some(file))
                .unwrap()
                .api_id,
            7
        );
    }
}
