//! Named set and map declarations: key and data types (from `type`, `typeof` or the
//! meter that declared the set), elements typed and sorted, flags as nft lists them.

use super::canon::sort_elems;
use super::{Ctx, Normalizer, R, elem_stmts, has_interval, type_list};
use crate::ast::*;
use crate::layout::key_layout;
use crate::types::*;

impl Normalizer<'_> {
    /// Normalises one set/map declaration (types resolved, elements typed and sorted).
    pub(crate) fn set_decl(&mut self, mut d: SetDecl) -> R<SetDecl> {
        self.set_types(&mut d)?;
        if d.is_map && d.data.is_empty() && d.obj_type.is_none() {
            return Err(format!("map '{}' needs a data type", d.name));
        }
        let elems = std::mem::take(&mut d.elements);
        d.elements = self.set_elements(&d, elems)?;
        canonical_flags(&mut d);
        Ok(d)
    }

    /// Key and data types, from `typeof` expressions or type names.
    fn set_types(&self, d: &mut SetDecl) -> R<()> {
        let ctx = Ctx {
            l3: self.base_l3(),
            ..Default::default()
        };
        if let Some(k) = d.typeof_key.take() {
            d.key = k
                .iter()
                .map(|e| self.sel(e, &ctx).map(|x| x.0))
                .collect::<R<Vec<_>>>()?;
        } else if !d.type_names.is_empty() {
            d.key = d
                .type_names
                .iter()
                .map(|n| dtype(n))
                .collect::<R<Vec<_>>>()?;
        } else if d.key.is_empty() {
            return Err(format!("set '{}' needs a type or typeof", d.name));
        }
        d.type_names.clear();
        key_layout(&d.key.iter().map(|t| t.bits()).collect::<Vec<_>>())?;
        if let Some(t) = d.typeof_data.take() {
            d.data = self.key_types(&t, &ctx)?;
        } else if let Some(n) = d.data_name.take() {
            d.data = n
                .split(" . ")
                .map(|n| dtype(n.trim()))
                .collect::<R<Vec<_>>>()?;
        }
        if d.data.len() > 1 {
            check_concat_data(&d.data)?;
        }
        Ok(())
    }

    /// The elements typed like the set (anonymous sets in them flattened), sorted, without
    /// duplicates.
    fn set_elements(&mut self, d: &SetDecl, elems: Vec<SetElem>) -> R<Vec<SetElem>> {
        let interval = d.flags.iter().any(|f| f == "interval");
        let mut out = Vec::with_capacity(elems.len());
        for el in elems {
            let k = self.constant(&d.key, el.key, true)?;
            let data = match el.data {
                Some(v) => {
                    if !d.data.is_empty() {
                        Some(self.data_value(&d.data, v)?)
                    } else if d.obj_type.is_some() {
                        Some(self.data_value(&[DType::Str], v)?)
                    } else {
                        return Err(format!("set '{}' elements cannot have data", d.name));
                    }
                }
                None => {
                    if d.is_map {
                        return Err(format!("map '{}' element needs data", d.name));
                    }
                    None
                }
            };
            let stmts = elem_stmts(el.stmts)?;
            let mut push = |k: Expr| -> R<()> {
                if !interval && has_interval(&k) {
                    return Err(format!(
                        "set '{}' needs 'flags interval' for ranges and prefixes",
                        d.name
                    ));
                }
                out.push(SetElem {
                    key: k,
                    data: data.clone(),
                    timeout: el.timeout,
                    expires: el.expires,
                    comment: el.comment.clone(),
                    stmts: stmts.clone(),
                });
                Ok(())
            };
            match k {
                Expr::Set(inner) => {
                    for i in inner {
                        push(i.key)?;
                    }
                }
                k => push(k)?,
            }
        }
        sort_elems(&mut out);
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }
}

fn dtype(name: &str) -> R<DType> {
    DType::from_name(name).ok_or_else(|| format!("unknown datatype {name}"))
}

/// Flags and properties as nft lists them: `dynamic` is dropped by nft 1.0.6 JSON output;
/// the kernel sets the timeout flag when a default timeout is given; 65535 is the size nft
/// reports for dynamic sets declared without one; auto-merge only changes how overlapping
/// insertions are stored (nft 1.0.6 JSON drops it).
fn canonical_flags(d: &mut SetDecl) {
    d.flags.retain(|f| f != "dynamic");
    if d.timeout.is_some() && !d.flags.iter().any(|f| f == "timeout") {
        d.flags.push("timeout".into());
    }
    d.auto_merge = false;
    if d.size == Some(65535) {
        d.size = None;
    }
    d.flags.sort();
    d.flags.dedup();
}

/// Concatenated map data is only consumed by NAT (`dnat to KEY map { k : addr . port }`:
/// `nft_nat` takes the address and the port from consecutive registers).
fn check_concat_data(tys: &[DType]) -> R<()> {
    if matches!(tys, [DType::Ipv4 | DType::Ipv6, DType::InetService]) {
        Ok(())
    } else {
        Err(format!(
            "unsupported: concatenated map data {} (only `ipv4_addr . inet_service` and `ipv6_addr . inet_service` NAT maps are modelled)",
            type_list(tys)
        ))
    }
}
