//! Database URLs in messages: never with a password.

/// `url` with any password hidden: the one between `user:` and `@`, and a `password=`
/// query parameter.
pub fn redact(url: &str) -> String {
    let mut shown = match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    };
    if let Some((base, query)) = shown.split_once('?') {
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        shown = format!("{base}?{}", query.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden_wherever_they_are() {
        assert_eq!(
            redact("postgres://app:s3cret@db/ledger"),
            "postgres://app:***@db/ledger"
        );
        assert_eq!(
            redact("postgres://app@db/ledger?sslmode=require&password=s3cret"),
            "postgres://app@db/ledger?sslmode=require&password=***"
        );
        assert_eq!(redact("sqlite://croupier.db"), "sqlite://croupier.db");
    }
}
