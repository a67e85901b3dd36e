//! The store test harness, shared by every store suite: each test runs once on SQLite
//! (in a temp dir) and once on PostgreSQL when `GARRISON_TEST_POSTGRES_URL` is set (an
//! account allowed to `CREATE DATABASE`; each test gets its own database, dropped
//! afterwards). With `CI` set and no URL the PostgreSQL tests fail instead of skipping.
#![allow(dead_code)]

use garrison_panel::store::Store;
use sqlx::{AssertSqlSafe, Connection};

pub enum Kind {
    Sqlite { dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

pub struct TestDb {
    pub url: String,
    pub kind: Kind,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        // A nested, not yet existing directory: open must create it and the file.
        let path = dir.path().join("data/db/garrison.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            kind: Kind::Sqlite { dir },
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let admin_url = match std::env::var("GARRISON_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var_os("CI").is_some() => {
                panic!(
                    "CI is set but GARRISON_TEST_POSTGRES_URL is not: PostgreSQL tests must run in CI"
                )
            }
            _ => {
                eprintln!("note: GARRISON_TEST_POSTGRES_URL unset; skipping PostgreSQL test");
                return None;
            }
        };
        sqlx::any::install_default_drivers();
        let name = format!("garrison_t_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::AnyConnection::connect(&admin_url)
            .await
            .expect("connect to GARRISON_TEST_POSTGRES_URL");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        Some(TestDb {
            url: with_database(&admin_url, &name),
            kind: Kind::Postgres { admin_url, name },
        })
    }

    pub fn backend(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite { .. } => "sqlite",
            Kind::Postgres { .. } => "postgres",
        }
    }

    pub async fn open(&self) -> Store {
        let store = Store::open(&self.url).await.expect("open store");
        assert_eq!(store.backend(), self.backend());
        store
    }

    /// A raw pool on the same database, to poke at rows behind the store's back.
    pub async fn raw(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.url).await.unwrap()
    }
}

/// Drops the PostgreSQL database even when the test panicked.
impl Drop for TestDb {
    fn drop(&mut self) {
        if let Kind::Postgres { admin_url, name } = &self.kind {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        if let Err(e) = sqlx::query(AssertSqlSafe(sql)).execute(&mut conn).await {
                            eprintln!("cannot drop test database {name}: {e}");
                        }
                        conn.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

/// Replaces the database name in a `postgres://` URL, keeping any query string.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_and_path = &base[scheme_end..];
    let authority = authority_and_path
        .split_once('/')
        .map_or(authority_and_path, |(a, _)| a);
    let mut out = format!("{}{}/{}", &base[..scheme_end], authority, db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::TestDb::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                }
            )*
        }
    };
}
