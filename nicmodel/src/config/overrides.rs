//! Scenario overrides: a TOML table merged onto a configuration field by field, with typed
//! errors that name the field, and the dotted leaf paths the source notes are keyed by.

use super::validate::invalid;
use super::{ConfigError, NicConfig};

pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

pub(super) fn collect_leaves(t: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in t {
        let path = join(prefix, k);
        match v {
            toml::Value::Table(sub) if k != "sources" || !prefix.is_empty() => {
                collect_leaves(sub, &path, out)
            }
            toml::Value::Table(_) => {}
            _ => out.push(path),
        }
    }
}

pub(super) fn merge(
    base: &mut toml::Table,
    over: &toml::Table,
    prefix: &str,
    touched: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for (k, v) in over {
        let path = join(prefix, k);
        if prefix.is_empty() && k == "sources" {
            let toml::Value::Table(notes) = v else {
                return Err(ConfigError::Type {
                    field: path,
                    expected: "table",
                    found: v.type_str(),
                });
            };
            let entry = base
                .entry("sources")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(dst) = entry else {
                unreachable!("sources is always a table")
            };
            for (nk, nv) in notes {
                let toml::Value::String(_) = nv else {
                    return Err(ConfigError::Type {
                        field: join(&path, nk),
                        expected: "string",
                        found: nv.type_str(),
                    });
                };
                dst.insert(nk.clone(), nv.clone());
                touched.push(join(&path, nk));
            }
            continue;
        }
        let Some(slot) = base.get_mut(k) else {
            return Err(ConfigError::UnknownField { field: path });
        };
        match (slot, v) {
            (toml::Value::Table(b), toml::Value::Table(o)) => merge(b, o, &path, touched)?,
            (toml::Value::Table(_), other) => {
                return Err(ConfigError::Type {
                    field: path,
                    expected: "table",
                    found: other.type_str(),
                });
            }
            (slot, toml::Value::Table(_)) => {
                return Err(ConfigError::Type {
                    field: path,
                    expected: slot.type_str(),
                    found: "table",
                });
            }
            (slot @ toml::Value::Float(_), toml::Value::Integer(i)) => {
                *slot = toml::Value::Float(*i as f64);
                touched.push(path);
            }
            (slot, v) => {
                if std::mem::discriminant(slot) != std::mem::discriminant(v) {
                    return Err(ConfigError::Type {
                        field: path,
                        expected: slot.type_str(),
                        found: v.type_str(),
                    });
                }
                if let (toml::Value::Integer(_), toml::Value::Integer(i)) = (&*slot, v)
                    && *i < 0
                {
                    return Err(invalid(&path, "must not be negative"));
                }
                *slot = v.clone();
                touched.push(path);
            }
        }
    }
    Ok(())
}

/// Deserialises a merged table section by section so a bad value names its field.
pub(super) fn from_merged(base: toml::Table, touched: &[String]) -> Result<NicConfig, ConfigError> {
    let blame = |section: &str, e: toml::de::Error| {
        let mine: Vec<&str> = touched
            .iter()
            .filter(|p| p.split('.').next() == Some(section))
            .map(String::as_str)
            .collect();
        let field = if mine.is_empty() {
            section.to_string()
        } else {
            mine.join(", ")
        };
        ConfigError::Invalid {
            field,
            reason: e.message().trim().to_string(),
        }
    };
    fn section<T: serde::de::DeserializeOwned>(
        base: &toml::Table,
        name: &str,
    ) -> Result<T, toml::de::Error> {
        base.get(name)
            .cloned()
            .unwrap_or(toml::Value::Table(toml::Table::new()))
            .try_into()
    }
    Ok(NicConfig {
        name: section(&base, "name").map_err(|e| blame("name", e))?,
        description: section(&base, "description").map_err(|e| blame("description", e))?,
        table: section(&base, "table").map_err(|e| blame("table", e))?,
        binding: section(&base, "binding").map_err(|e| blame("binding", e))?,
        aging: section(&base, "aging").map_err(|e| blame("aging", e))?,
        counters: section(&base, "counters").map_err(|e| blame("counters", e))?,
        pipeline: section(&base, "pipeline").map_err(|e| blame("pipeline", e))?,
        datapath: section(&base, "datapath").map_err(|e| blame("datapath", e))?,
        power: section(&base, "power").map_err(|e| blame("power", e))?,
        sources: section(&base, "sources").map_err(|e| blame("sources", e))?,
    })
}
