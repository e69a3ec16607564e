//! Persistent key-value storage for plugins, one namespace per plugin, in one redb file per host
//! (`state_dir/storage.redb`).
//!
//! Namespacing is structural: each plugin's keys live in a redb table of their own, named
//! `plugin/<id>`, and a [`PluginStore`] can name no other table. A plugin therefore cannot read,
//! list or overwrite another plugin's keys whatever bytes it sends as a key, which would not hold
//! if namespaces were key prefixes in a shared table.
//!
//! All operations are synchronous: each one is a redb transaction, and a write returns once it is
//! durable on disk. Async callers (every runtime's host-API handler) should run them through
//! `tokio::task::spawn_blocking` when values may be large, so that a multi-megabyte write does not
//! stall the executor thread.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use plugboard_manifest::PluginId;
use redb::{Database, DatabaseError, ReadOnlyTable, ReadableDatabase, TableDefinition, TableError};

/// The longest key accepted, in bytes. Keys are identifiers, not data; the bound keeps redb's
/// pages and `list` results small.
pub const MAX_KEY_LEN: usize = 1024;

/// The largest value accepted, in bytes. Larger blobs belong in files under the plugin's data
/// directory; the bound stops one plugin from bloating the database all plugins share.
pub const MAX_VALUE_LEN: usize = 16 * 1024 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a storage operation failed, phrased for the operator or the plugin author who must act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Another process holds the database file's lock.
    #[error("the plugin storage {path} is in use by another process: another Plugboard host may be running with the same state_dir; stop it, or give this host a state_dir of its own")]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// The directory that should hold the database cannot be created.
    #[error("cannot create the directory {path} for the plugin storage: {source}; check that the state_dir is writable")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The database file cannot be opened or created (permissions, corruption, a newer format).
    #[error("cannot open the plugin storage {path}: {source}; check its permissions, or move a damaged file aside (plugins then lose their stored data)")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: BoxError,
    },
    /// A transaction on an open database failed, most likely an I/O error of the disk.
    #[error("the plugin storage {path} failed while {operation} for plugin {plugin}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// The plugin whose namespace was accessed.
        plugin: PluginId,
        /// What was being done, e.g. "writing a key".
        operation: &'static str,
        /// The underlying error.
        source: BoxError,
    },
    /// A key (or `list` prefix) exceeds [`MAX_KEY_LEN`].
    #[error("a storage key of {len} bytes is longer than the limit of {max} bytes; use a shorter key, e.g. a hash of it")]
    KeyTooLong {
        /// The key's length.
        len: usize,
        /// [`MAX_KEY_LEN`].
        max: usize,
    },
    /// A value exceeds [`MAX_VALUE_LEN`].
    #[error("a storage value of {len} bytes is larger than the limit of {max} bytes; split it over several keys or keep it in a file")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// [`MAX_VALUE_LEN`].
        max: usize,
    },
}

/// The storage of one host: a handle on `state_dir/storage.redb`, shared by all its plugins.
///
/// Creating one does no I/O; the database (and its parent directories) is created or opened by
/// the first operation of any plugin. redb allows one open `Database` per file, so every clone and
/// every [`PluginStore`] shares the one opened here; the file is closed when the last of them is
/// dropped.
#[derive(Clone)]
pub struct StorageBackend {
    inner: Arc<Backend>,
}

struct Backend {
    path: PathBuf,
    database: OnceLock<Database>,
    /// Serialises the first open, so that two plugins starting at once do not race to lock the
    /// file (the loser would see its own host as "another process").
    opening: Mutex<()>,
}

impl StorageBackend {
    /// A backend for the database file at `path` (normally `state_dir/storage.redb`).
    pub fn new(path: PathBuf) -> StorageBackend {
        StorageBackend {
            inner: Arc::new(Backend {
                path,
                database: OnceLock::new(),
                opening: Mutex::new(()),
            }),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The namespace of `plugin`: a handle that reaches that plugin's keys and nothing else.
    pub fn namespace(&self, plugin: &PluginId) -> PluginStore {
        PluginStore {
            backend: Arc::clone(&self.inner),
            table: format!("plugin/{plugin}"),
            plugin: plugin.clone(),
        }
    }
}

impl fmt::Debug for StorageBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageBackend")
            .field("path", &self.path)
            .field("open", &self.database.get().is_some())
            .finish()
    }
}

impl Backend {
    /// The database, opened (or created) on first use. A failed open is not remembered, so that
    /// the next operation retries once the operator has stopped the other host.
    fn database(&self) -> Result<&Database, StorageError> {
        if let Some(database) = self.database.get() {
            return Ok(database);
        }
        let _opening = self.opening.lock();
        if let Some(database) = self.database.get() {
            return Ok(database);
        }
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StorageError::CreateDir {
                path: parent.to_owned(),
                source,
            })?;
        }
        let database = Database::create(&self.path).map_err(|error| match error {
            DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
                StorageError::InUse {
                    path: self.path.clone(),
                }
            }
            other => StorageError::Open {
                path: self.path.clone(),
                source: other.into(),
            },
        })?;
        Ok(self.database.get_or_init(|| database))
    }
}

/// One plugin's namespace in the host's storage. Cheap to clone; usable from any thread.
///
/// Every method is one synchronous redb transaction (see the module documentation about async
/// callers). Keys are at most [`MAX_KEY_LEN`] bytes and values at most [`MAX_VALUE_LEN`]; an empty
/// key is a valid key.
#[derive(Clone)]
pub struct PluginStore {
    backend: Arc<Backend>,
    plugin: PluginId,
    /// `plugin/<id>`: the only table this handle ever opens.
    table: String,
}

type Table<'name> = TableDefinition<'name, &'static [u8], &'static [u8]>;

/// A plugin's table opened for reading; it keeps its read transaction alive.
type ReadTable = ReadOnlyTable<&'static [u8], &'static [u8]>;

impl PluginStore {
    /// The plugin this namespace belongs to.
    pub fn plugin(&self) -> &PluginId {
        &self.plugin
    }

    /// The value stored under `key`, or `None`.
    ///
    /// # Errors
    /// [`StorageError::KeyTooLong`], or a failure to open or read the database.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(key)?;
        let Some(table) = self.read_table()? else {
            return Ok(None);
        };
        let value = table.get(key).map_err(self.failed("reading a key"))?;
        Ok(value.map(|guard| guard.value().to_vec()))
    }

    /// Stores `value` under `key`, replacing any previous value; durable when this returns.
    ///
    /// # Errors
    /// [`StorageError::KeyTooLong`], [`StorageError::ValueTooLarge`], or a failure to open or
    /// write the database.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        check_key(key)?;
        if value.len() > MAX_VALUE_LEN {
            return Err(StorageError::ValueTooLarge {
                len: value.len(),
                max: MAX_VALUE_LEN,
            });
        }
        let database = self.backend.database()?;
        let txn = database
            .begin_write()
            .map_err(self.failed("starting a write"))?;
        {
            let mut table = txn
                .open_table(self.definition())
                .map_err(self.failed("opening its namespace"))?;
            table
                .insert(key, value)
                .map_err(self.failed("writing a key"))?;
        }
        txn.commit().map_err(self.failed("committing a write"))
    }

    /// Removes `key`; returns whether it was present.
    ///
    /// # Errors
    /// [`StorageError::KeyTooLong`], or a failure to open or write the database.
    pub fn delete(&self, key: &[u8]) -> Result<bool, StorageError> {
        check_key(key)?;
        let database = self.backend.database()?;
        let txn = database
            .begin_write()
            .map_err(self.failed("starting a write"))?;
        let existed = {
            let mut table = txn
                .open_table(self.definition())
                .map_err(self.failed("opening its namespace"))?;
            let removed = table.remove(key).map_err(self.failed("deleting a key"))?;
            removed.is_some()
        };
        txn.commit().map_err(self.failed("committing a delete"))?;
        Ok(existed)
    }

    /// The keys that start with `prefix` (all keys for an empty prefix), in byte order.
    ///
    /// # Errors
    /// [`StorageError::KeyTooLong`] for a prefix longer than any key can be, or a failure to open
    /// or read the database.
    pub fn list(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, StorageError> {
        check_key(prefix)?;
        let Some(table) = self.read_table()? else {
            return Ok(Vec::new());
        };
        let mut keys = Vec::new();
        for entry in table
            .range::<&[u8]>(prefix..)
            .map_err(self.failed("listing keys"))?
        {
            let (key, _) = entry.map_err(self.failed("listing keys"))?;
            let key = key.value();
            // Keys are ordered, so the first one without the prefix ends the run.
            if !key.starts_with(prefix) {
                break;
            }
            keys.push(key.to_vec());
        }
        Ok(keys)
    }

    /// Removes every key of this plugin (e.g. when the operator resets or uninstalls it).
    ///
    /// # Errors
    /// A failure to open or write the database.
    pub fn clear(&self) -> Result<(), StorageError> {
        let database = self.backend.database()?;
        let txn = database
            .begin_write()
            .map_err(self.failed("starting a write"))?;
        txn.delete_table(self.definition())
            .map_err(self.failed("clearing its namespace"))?;
        txn.commit().map_err(self.failed("committing a clear"))
    }

    /// This plugin's table in a read transaction of its own; `None` when the plugin never
    /// wrote anything (redb creates a table on its first write).
    fn read_table(&self) -> Result<Option<ReadTable>, StorageError> {
        let database = self.backend.database()?;
        let txn = database
            .begin_read()
            .map_err(self.failed("starting a read"))?;
        match txn.open_table(self.definition()) {
            Ok(table) => Ok(Some(table)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(error) => Err(self.failed("opening its namespace")(error)),
        }
    }

    fn definition(&self) -> Table<'_> {
        TableDefinition::new(&self.table)
    }

    fn failed<E: Into<BoxError>>(
        &self,
        operation: &'static str,
    ) -> impl FnOnce(E) -> StorageError + '_ {
        move |error| StorageError::Database {
            path: self.backend.path.clone(),
            plugin: self.plugin.clone(),
            operation,
            source: error.into(),
        }
    }
}

impl fmt::Debug for PluginStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginStore")
            .field("plugin", &self.plugin)
            .field("path", &self.backend.path)
            .finish()
    }
}

fn check_key(key: &[u8]) -> Result<(), StorageError> {
    if key.len() > MAX_KEY_LEN {
        return Err(StorageError::KeyTooLong {
            len: key.len(),
            max: MAX_KEY_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const _: () = {
        const fn send_sync<T: Send + Sync>() {}
        send_sync::<StorageBackend>();
        send_sync::<PluginStore>();
        send_sync::<StorageError>();
    };

    fn id(text: &str) -> PluginId {
        PluginId::new(text).unwrap()
    }

    fn backend(dir: &Path) -> StorageBackend {
        StorageBackend::new(dir.join("state/storage.redb"))
    }

    #[test]
    fn creating_a_backend_does_no_io_and_the_first_use_creates_the_file() {
        let temp = tempfile::tempdir().unwrap();
        let storage = backend(temp.path());
        let store = storage.namespace(&id("text-tools"));
        assert!(!temp.path().join("state").exists());
        assert_eq!(store.get(b"missing").unwrap(), None);
        assert!(storage.path().exists());
    }

    #[test]
    fn put_get_delete_list_and_clear() {
        let temp = tempfile::tempdir().unwrap();
        let store = backend(temp.path()).namespace(&id("text-tools"));
        assert_eq!(store.list(b"").unwrap(), Vec::<Vec<u8>>::new());
        assert!(!store.delete(b"absent").unwrap());
        store.put(b"user/1", b"ada").unwrap();
        store.put(b"user/2", b"grace").unwrap();
        store.put(b"users", b"2").unwrap();
        store.put(b"", b"empty keys are keys").unwrap();
        store.put(b"user/1", b"ada lovelace").unwrap();
        assert_eq!(store.get(b"user/1").unwrap().unwrap(), b"ada lovelace");
        assert_eq!(
            store.list(b"user/").unwrap(),
            vec![b"user/1".to_vec(), b"user/2".to_vec()]
        );
        assert_eq!(store.list(b"").unwrap().len(), 4);
        assert!(store.delete(b"user/1").unwrap());
        assert_eq!(store.get(b"user/1").unwrap(), None);
        store.clear().unwrap();
        assert_eq!(store.list(b"").unwrap(), Vec::<Vec<u8>>::new());
        // Clearing an empty namespace is fine, and the namespace is usable afterwards.
        store.clear().unwrap();
        store.put(b"again", b"yes").unwrap();
        assert_eq!(store.get(b"again").unwrap().unwrap(), b"yes");
    }

    #[test]
    fn plugins_cannot_see_each_others_keys() {
        let temp = tempfile::tempdir().unwrap();
        let storage = backend(temp.path());
        let (a, b) = (storage.namespace(&id("a")), storage.namespace(&id("a.b")));
        a.put(b"token", b"secret-a").unwrap();
        b.put(b"token", b"secret-b").unwrap();
        // A key that looks like another namespace's table name is just a key.
        a.put(b"plugin/a.b/token", b"not b's").unwrap();
        assert_eq!(a.get(b"token").unwrap().unwrap(), b"secret-a");
        assert_eq!(b.get(b"token").unwrap().unwrap(), b"secret-b");
        assert_eq!(b.list(b"").unwrap(), vec![b"token".to_vec()]);
        a.clear().unwrap();
        assert_eq!(a.get(b"token").unwrap(), None);
        assert_eq!(b.get(b"token").unwrap().unwrap(), b"secret-b");
        assert_eq!(b.plugin().as_str(), "a.b");
    }

    #[test]
    fn data_survives_a_host_restart() {
        let temp = tempfile::tempdir().unwrap();
        {
            let storage = backend(temp.path());
            let store = storage.namespace(&id("text-tools"));
            store.put(b"counter", &7u64.to_le_bytes()).unwrap();
            // Both the backend and the store are dropped here, closing the file.
        }
        let storage = backend(temp.path());
        let store = storage.namespace(&id("text-tools"));
        assert_eq!(store.get(b"counter").unwrap().unwrap(), 7u64.to_le_bytes());
    }

    #[test]
    fn limits_are_enforced_with_clear_errors() {
        let temp = tempfile::tempdir().unwrap();
        let store = backend(temp.path()).namespace(&id("text-tools"));
        let longest = vec![b'k'; MAX_KEY_LEN];
        store.put(&longest, b"ok").unwrap();
        let error = store.put(&[b'k'; MAX_KEY_LEN + 1], b"").unwrap_err();
        assert!(matches!(
            error,
            StorageError::KeyTooLong {
                len: 1025,
                max: 1024
            }
        ));
        assert!(error.to_string().contains("1025 bytes"), "{error}");
        assert!(matches!(
            store.get(&[0; MAX_KEY_LEN + 1]),
            Err(StorageError::KeyTooLong { .. })
        ));
        let large = vec![0; MAX_VALUE_LEN + 1];
        let error = store.put(b"big", &large).unwrap_err();
        assert!(matches!(error, StorageError::ValueTooLarge { .. }));
        assert!(error.to_string().contains("split it"), "{error}");
        assert_eq!(store.get(b"big").unwrap(), None);
    }

    #[test]
    fn a_database_held_elsewhere_is_reported_by_path() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("storage.redb");
        let holder = Database::create(&path).unwrap();
        let storage = StorageBackend::new(path.clone());
        let error = storage.namespace(&id("text-tools")).get(b"k").unwrap_err();
        assert!(matches!(&error, StorageError::InUse { path: p } if *p == path));
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("same state_dir"), "{message}");
        // Once the other holder is gone, the same backend opens the file.
        drop(holder);
        storage
            .namespace(&id("text-tools"))
            .put(b"k", b"v")
            .unwrap();
    }

    #[test]
    fn concurrent_first_use_opens_one_database() {
        let temp = tempfile::tempdir().unwrap();
        let storage = backend(temp.path());
        let threads: Vec<_> = (0..8)
            .map(|n| {
                let store = storage.namespace(&id(&format!("plugin-{n}")));
                std::thread::spawn(move || {
                    for i in 0..20u32 {
                        store.put(&i.to_be_bytes(), b"v").unwrap();
                    }
                    store.list(b"").unwrap().len()
                })
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap(), 20);
        }
    }
}
