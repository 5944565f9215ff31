//! `shedu keys rotate-kek`: re-seals every key file of one engine under a new KEK, one atomic
//! rename per file, upgrading format 1 files to format 2 (docs/adr/0014). Run with Shedu stopped.
//! An interrupted rotation is finished by running it again: files already under the new KEK are
//! left as they are, and until it is finished Shedu refuses to start.

use std::path::Path;

use super::kek::Kek;
use super::kek_check;
use super::key_file::{self, Binding, FORMAT_V1, Sealer};
use super::keys::unseal;

/// What a rotation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Key files re-sealed under the new KEK.
    pub resealed: usize,
    /// Of those, files that were format 1.
    pub upgraded: usize,
    /// Key files already under the new KEK (from an interrupted run).
    pub already: usize,
}

/// Re-seals the key files in `dir` (engine `engine_id`) from `old` to `new`. Every file is opened
/// and checked before the first is rewritten, so a key the old KEK cannot open changes nothing.
pub fn rotate_kek(dir: &Path, engine_id: &str, old: &Kek, new: &Kek) -> Result<Rotation, String> {
    if old.id() == new.id() {
        return Err("the new KEK is the one configured now".into());
    }
    let (old, new) = (Sealer::new(old)?, Sealer::new(new)?);
    let check = kek_check::read_check(dir)?;
    if let Some(check) = &check {
        kek_check::open_check(&old, engine_id, check)
            .or_else(|_| kek_check::open_check(&new, engine_id, check))
            .map_err(|e| format!("neither KEK opens {}: {e}", dir.join("kek-check").display()))?;
    }
    let mut rotation = Rotation::default();
    let mut pending = Vec::new();
    for (path, key_id) in key_file::list(dir)? {
        let file = key_file::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let binding = Binding { engine_id, key_id: &key_id };
        if file.kek_id.as_deref() == Some(new.kek_id().as_str()) {
            unseal(&new, &file, binding)?;
            rotation.already += 1;
        } else {
            unseal(&old, &file, binding)?;
            pending.push((path, key_id));
        }
    }
    for (path, key_id) in pending {
        let file = key_file::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let binding = Binding { engine_id, key_id: &key_id };
        let (_, der) = unseal(&old, &file, binding)?;
        key_file::write(&path, &new.seal(binding, &file.algorithm, &file.encoding, &der)?)?;
        rotation.resealed += 1;
        rotation.upgraded += usize::from(file.format_version == FORMAT_V1);
    }
    // Last: while a rotation is half done, Shedu starts under neither KEK (`kek_check::verify`).
    kek_check::write_check(dir, engine_id, &new)?;
    Ok(rotation)
}
