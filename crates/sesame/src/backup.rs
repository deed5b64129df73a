//! `sesame backup` and `sesame restore` for the embedded SQLite store, and the lock that
//! keeps one `sesame serve` per SQLite file (and `restore` away from a running server).
//!
//! A backup is a consistent snapshot taken while the server runs (`VACUUM INTO`, one read
//! transaction), written beside the target and renamed into place, with the server key
//! copied to `<FILE>.key` (without it the sealed secrets, API keys and DKIM keys, cannot be
//! read). A restore checks the copy, brings its schema up to this binary's migrations, and
//! swaps it in; the old store is kept as `<db>.before-restore`. PostgreSQL is backed up
//! with pg_dump (docs/operations.md).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sesame_core::Config;
use sesame_store::{ServerKey, Store};

/// The SQLite file of the config's store, or `None` for PostgreSQL.
fn sqlite_file(config: &Config) -> Option<PathBuf> {
    sesame_store::sqlite_path(&config.storage.url).map(PathBuf::from)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Takes the store's lock file (`<db>.lock`) for the life of the returned handle. `None`
/// for PostgreSQL, where several servers may share one database.
pub fn lock_store(config: &Config) -> anyhow::Result<Option<File>> {
    let Some(db) = sqlite_file(config) else {
        return Ok(None);
    };
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let path = with_suffix(&db, ".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another sesame serve (or restore) is using {}: its lock {} is held. One server runs per SQLite store; use PostgreSQL to run several",
            db.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// `sesame backup --to FILE`.
pub async fn backup(config: &Config, to: &Path, with_key: bool) -> anyhow::Result<()> {
    if sqlite_file(config).is_none() {
        bail!(
            "`sesame backup` copies the SQLite store; this config uses PostgreSQL: run `pg_dump --format=custom` (see docs/operations.md)"
        );
    }
    if to.exists() {
        bail!("{} exists: choose a new file name", to.display());
    }
    let store = crate::cli::open_store(config).await?;
    let partial = with_suffix(to, ".partial");
    let _ = std::fs::remove_file(&partial);
    let result = store.backup_to(&partial).await;
    store.close().await;
    result.with_context(|| format!("writing the snapshot to {}", partial.display()))?;
    File::open(&partial)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", partial.display()))?;
    std::fs::rename(&partial, to).with_context(|| format!("renaming to {}", to.display()))?;
    let key = if with_key {
        let key = with_suffix(to, ".key");
        copy_private(&config.storage.key_file, &key)?;
        Some(key)
    } else {
        None
    };
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "backup": to.display().to_string(),
            "key": key.map(|k| k.display().to_string()),
            "bytes": bytes,
        })
    );
    Ok(())
}

/// `sesame restore --from FILE`: only while no server runs on the store.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<()> {
    let Some(db) = sqlite_file(config) else {
        bail!(
            "`sesame restore` replaces the SQLite store; this config uses PostgreSQL: use pg_restore (see docs/operations.md)"
        );
    };
    if !from.is_file() {
        bail!("{} is not a file", from.display());
    }
    let _lock = lock_store(config).context("restore needs the server stopped")?;

    // Work on a copy: the backup itself stays as it was.
    let incoming = with_suffix(&db, ".restoring");
    remove_sqlite_files(&incoming)?;
    std::fs::copy(from, &incoming)
        .with_context(|| format!("copying {} to {}", from.display(), incoming.display()))?;
    let key_from = with_suffix(from, ".key");
    let key = if key_from.is_file() {
        ServerKey::load_or_create(&key_from).context("reading the backup's key")?
    } else {
        ServerKey::load_or_create(&config.storage.key_file).context("loading the server key")?
    };
    let url = format!("sqlite://{}", incoming.display());
    let store = Store::open_with(&url, key, config.storage.sqlite_synchronous)
        .await
        .with_context(|| format!("{} is not a Sesame store", from.display()))?;
    let verdict = store.integrity_check().await;
    store.close().await;
    let verdict = verdict.context("checking the copy")?;
    if verdict != "ok" {
        remove_sqlite_files(&incoming)?;
        bail!("{} is damaged: {verdict}", from.display());
    }

    let before = with_suffix(&db, ".before-restore");
    if db.exists() {
        remove_sqlite_files(&before)?;
        // A checkpoint-free copy: the live WAL and shared-memory files go with the old store.
        for suffix in ["", "-wal", "-shm"] {
            let old = with_suffix(&db, suffix);
            if old.exists() {
                std::fs::rename(&old, with_suffix(&before, suffix))
                    .with_context(|| format!("moving {} aside", old.display()))?;
            }
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let part = with_suffix(&incoming, suffix);
        if part.exists() {
            std::fs::rename(&part, with_suffix(&db, suffix))
                .with_context(|| format!("moving {} into place", part.display()))?;
        }
    }
    if key_from.is_file() {
        let current = std::fs::read(&config.storage.key_file).ok();
        let wanted = std::fs::read(&key_from).context("reading the backup's key")?;
        if current.as_deref() != Some(wanted.as_slice()) {
            if current.is_some() {
                std::fs::rename(
                    &config.storage.key_file,
                    with_suffix(&config.storage.key_file, ".before-restore"),
                )
                .context("moving the old server key aside")?;
            }
            copy_private(&key_from, &config.storage.key_file)?;
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "restored": db.display().to_string(),
            "from": from.display().to_string(),
            "previous": before.exists().then(|| before.display().to_string()),
        })
    );
    Ok(())
}

fn remove_sqlite_files(path: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = with_suffix(path, suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", file.display())),
        }
    }
    Ok(())
}

/// Copies a secret file, readable by its owner only.
fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(to)
        .with_context(|| format!("creating {}", to.display()))?;
    std::io::Write::write_all(&mut file, &bytes)
        .and_then(|_| file.sync_all())
        .with_context(|| format!("writing {}", to.display()))
}
