//! Files and directories only their owner may open: the data directory, the SQLite database,
//! key directories, key files and KEK files. The log holds stored responses and the key files
//! sit beside it, so nothing Shedu creates there is readable by group or others.

use std::fs;
use std::io::Write;
use std::path::Path;

/// Mode bits that give group or others any access.
#[cfg(unix)]
const SHARED_BITS: u32 = 0o077;

/// Creates `path` (and missing parents) as 0700, or narrows an existing directory to 0700:
/// data directories made by earlier versions are 0755.
pub fn create_private_dir(path: &Path) -> Result<(), String> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(|e| format!("cannot create directory {}: {e}", path.display()))?;
    narrow(path, 0o700)
}

/// Narrows an existing file to 0600; a missing file is left missing.
pub fn restrict_to_owner(path: &Path) -> Result<(), String> {
    match fs::metadata(path) {
        Ok(_) => narrow(path, 0o600),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Creates an empty 0600 file unless one exists, so that a library creating it later (SQLite)
/// inherits no wider mode.
pub fn create_private_file(path: &Path) -> Result<(), String> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    restrict_to_owner(path)
}

/// Refuses a secret file that group or others may read, naming the fix.
pub fn refuse_shared(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?.permissions().mode();
        if mode & SHARED_BITS != 0 {
            return Err(format!(
                "{} is accessible to group or others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    Ok(())
}

/// Writes a file only its owner can read, atomically (write, fsync, rename, fsync the directory).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    // A unique name: two stores of the same key (the same key imported twice at once) must not
    // share one temporary file.
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "no randomness".to_owned())?;
    let tmp = path.with_extension(format!("{}.tmp", hex::encode(nonce)));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    // The rename is durable only once the directory entry is.
    if let Some(dir) = path.parent() {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    }
    Ok(())
}

fn narrow(path: &Path, mode: u32) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?.permissions();
        if current.mode() & SHARED_BITS != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(|e| format!("cannot make {} owner-only: {e}", path.display()))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(unix)]
#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_become_owner_only() {
        let dir = std::env::temp_dir().join(format!("shedu-private-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        create_private_dir(&dir.join("a/b")).unwrap();
        assert_eq!((mode(&dir.join("a")), mode(&dir.join("a/b"))), (0o700, 0o700));

        let secret = dir.join("kek.hex");
        fs::write(&secret, "x").unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o640)).unwrap();
        let refused = refuse_shared(&secret).unwrap_err();
        assert!(refused.contains("kek.hex") && refused.contains("chmod 600"), "{refused}");
        restrict_to_owner(&secret).unwrap();
        assert_eq!(mode(&secret), 0o600);
        assert!(refuse_shared(&secret).is_ok());

        write_private(&dir.join("k.key"), b"sealed").unwrap();
        assert_eq!(mode(&dir.join("k.key")), 0o600);
        create_private_file(&dir.join("db")).unwrap();
        assert_eq!(mode(&dir.join("db")), 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }
}
