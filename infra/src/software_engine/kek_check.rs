//! Does the configured KEK open this engine's keys? Asked once, at start: a wrong KEK stops
//! Shedu with a message naming the engine, instead of passing `/ready` and failing every
//! signature.
//!
//! The answer is a small sealed file, `<keys dir>/kek-check`, written on the first start that
//! has proved the KEK (by opening an existing key, or trivially in an empty directory).

use std::io::ErrorKind;
use std::path::Path;

use super::key_file::{self, Binding, KeyFile, OpenError, Sealer};

const CHECK_FILE: &str = "kek-check";
const CHECK_TEXT: &[u8] = b"this KEK seals this engine's keys";
/// What the check file's AAD says it holds, so no key file can stand in for it or it for one.
const CHECK_ALGORITHM: &str = "NONE";
const CHECK_ENCODING: &str = "kek-check";

/// Refuses a KEK that does not open the engine's keys, or a directory whose keys are sealed by
/// several KEKs (a rotation left half done).
pub(crate) fn verify(dir: &Path, engine_id: &str, sealer: &Sealer) -> Result<(), String> {
    let wrong_kek = |reason: String| {
        format!(
            "software engine '{engine_id}': the configured KEK (id {}) does not open its keys in {}: {reason}. \
             Configure the KEK these keys were sealed with; `shedu keys rotate-kek` moves them to a new one",
            sealer.kek_id(),
            dir.display()
        )
    };
    match read_check(dir).map_err(|e| format!("software engine '{engine_id}': {e}"))? {
        Some(file) => open_check(sealer, engine_id, &file).map_err(|e| wrong_kek(format!("the check file: {e}")))?,
        None => {
            // Key files from before the check file existed: the first one must open.
            if let Some((path, key_id)) = key_file::list(dir)?.into_iter().next() {
                let file = key_file::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                sealer
                    .open(&file, Binding { engine_id, key_id: &key_id })
                    .map_err(|e| wrong_kek(format!("key {key_id}: {e}")))?;
            }
            write_check(dir, engine_id, sealer)?;
        }
    }
    let others: Vec<String> = key_file::list(dir)?
        .into_iter()
        .filter(|(path, _)| {
            key_file::read(path).is_ok_and(|f| f.kek_id.as_deref().is_some_and(|id| id != sealer.kek_id().as_str()))
        })
        .map(|(_, key_id)| key_id)
        .collect();
    match others.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "software engine '{engine_id}': {} key file(s) in {} are sealed by another KEK than the configured one \
             (id {}), key {first} among them: finish `shedu keys rotate-kek`",
            others.len(),
            dir.display(),
            sealer.kek_id()
        )),
    }
}

/// Writes the check file under `sealer`'s KEK.
pub(crate) fn write_check(dir: &Path, engine_id: &str, sealer: &Sealer) -> Result<(), String> {
    let file = sealer.seal(binding(engine_id), CHECK_ALGORITHM, CHECK_ENCODING, CHECK_TEXT)?;
    key_file::write(&dir.join(CHECK_FILE), &file)
}

/// The check file, or `None` before the first start.
pub(crate) fn read_check(dir: &Path) -> Result<Option<KeyFile>, String> {
    match key_file::read(&dir.join(CHECK_FILE)) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", dir.join(CHECK_FILE).display())),
    }
}

pub(crate) fn open_check(sealer: &Sealer, engine_id: &str, file: &KeyFile) -> Result<(), OpenError> {
    let bound = file.algorithm == CHECK_ALGORITHM && file.encoding == CHECK_ENCODING;
    match sealer.open(file, binding(engine_id))? {
        text if bound && text.as_slice() == CHECK_TEXT => Ok(()),
        _ => Err(OpenError::DoesNotDecrypt),
    }
}

fn binding(engine_id: &str) -> Binding<'_> {
    Binding { engine_id, key_id: CHECK_FILE }
}
