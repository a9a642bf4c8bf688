//! A command's canonical content, stored with its idempotency key, so a retry can be told
//! apart from a different command that reuses the key.

use serde::{Deserialize, Serialize};

/// Field names and canonical values, in a fixed order per command type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint(Vec<(String, String)>);

impl Fingerprint {
    pub fn new<'a>(fields: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        Self(
            fields
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        )
    }

    /// The value of one field, if the command has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first field whose value differs, or that one side lacks; `None` when equal.
    /// A different command type is reported as `type`.
    pub fn first_difference(&self, other: &Fingerprint) -> Option<String> {
        let value = |fp: &Fingerprint, name: &str| {
            fp.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        };
        if value(self, "type") != value(other, "type") {
            return Some("type".to_owned());
        }
        self.0
            .iter()
            .chain(other.0.iter())
            .map(|(name, _)| name)
            .find(|name| value(self, name) != value(other, name))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(fields: &[(&'static str, &str)]) -> Fingerprint {
        Fingerprint::new(fields.iter().map(|(n, v)| (*n, (*v).to_owned())))
    }

    #[test]
    fn names_the_first_differing_field() {
        let a = fp(&[("type", "deposit"), ("player", "7"), ("amount", "100")]);
        let b = fp(&[("type", "deposit"), ("player", "7"), ("amount", "90")]);
        assert_eq!(a.first_difference(&a), None);
        assert_eq!(a.first_difference(&b).as_deref(), Some("amount"));
        let c = fp(&[("type", "adjust"), ("player", "7")]);
        assert_eq!(a.first_difference(&c).as_deref(), Some("type"));
    }
}
