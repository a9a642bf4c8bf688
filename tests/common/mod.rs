//! Helpers shared by the binary's end-to-end tests.

/// The URL of the fresh database `#[sqlx::test]` made for this test, for the processes
/// and pools the test starts itself.
pub async fn database_url(pool: &sqlx::PgPool) -> String {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test PostgreSQL");
    match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{database}"),
        None => panic!("DATABASE_URL has no database path"),
    }
}
