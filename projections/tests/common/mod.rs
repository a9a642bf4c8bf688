//! Helpers shared by the projections' integration tests.

/// Generates, for each test body named, one test on a fresh PostgreSQL database and one
/// on a fresh SQLite database.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[sqlx::test(migrations = "../migrations/postgres")]
                async fn $name(pool: sqlx::PgPool) {
                    super::$name(store::PgStore::from_pool(pool)).await
                }
            )*
        }
        mod sqlite {
            $(
                #[sqlx::test(migrations = "../migrations/sqlite")]
                async fn $name(pool: sqlx::SqlitePool) {
                    super::$name(store::SqliteStore::from_pool(pool)).await
                }
            )*
        }
    };
}
