//! Templates admins add (created, imported, or synced from a repository) and the
//! repositories they come from. The body is the template as JSON; the registry in
//! memory is rebuilt from these rows.

use super::{Store, StoreError, col, new_id, now_millis};
use serde::Serialize;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredTemplate {
    pub id: String,
    /// The template as JSON.
    pub body: String,
    /// `custom`, `import`, or `repo:<repository id>`.
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateRepo {
    pub id: String,
    /// A git URL or a local directory.
    pub location: String,
    /// `git` or `dir`.
    pub kind: String,
    pub added_at: i64,
    pub synced_at: Option<i64>,
    pub sync_error: Option<String>,
    pub template_count: i64,
}

fn repo_from_row(row: &AnyRow) -> Result<TemplateRepo, StoreError> {
    Ok(TemplateRepo {
        id: col(row, "id")?,
        location: col(row, "location")?,
        kind: col(row, "kind")?,
        added_at: col(row, "added_at")?,
        synced_at: col(row, "synced_at")?,
        sync_error: col(row, "sync_error")?,
        template_count: col(row, "template_count")?,
    })
}

async fn insert_template(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    body: &str,
    source: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO templates (id, body, source, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(id)
    .bind(body)
    .bind(source)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    pub async fn list_templates(&self) -> Result<Vec<StoredTemplate>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, body, source, created_at, updated_at FROM templates ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredTemplate {
                    id: col(row, "id")?,
                    body: col(row, "body")?,
                    source: col(row, "source")?,
                    created_at: col(row, "created_at")?,
                    updated_at: col(row, "updated_at")?,
                })
            })
            .collect()
    }

    /// Insert or replace (keeping `created_at`).
    pub async fn put_template(&self, id: &str, body: &str, source: &str) -> Result<(), StoreError> {
        let now = now_millis();
        let mut tx = self.write_tx().await?;
        let res = sqlx::query(
            "UPDATE templates SET body = $2, source = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(body)
        .bind(source)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            insert_template(&mut tx, id, body, source, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_template(&self, id: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM templates WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// How many servers use the template.
    pub async fn servers_using_template(&self, id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM servers WHERE template = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        col(&row, "n")
    }

    /// Replace the templates a repository provides with `templates` (id, body) in one
    /// transaction, and record the sync (templates it no longer has go, unless a server
    /// uses them). Ids owned by another source are left alone and
    /// returned, so the caller can report them.
    pub async fn replace_repo_templates(
        &self,
        repo_id: &str,
        templates: &[(String, String)],
    ) -> Result<Vec<String>, StoreError> {
        let source = format!("repo:{repo_id}");
        let now = now_millis();
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query("SELECT id, source FROM templates")
            .fetch_all(&mut *tx)
            .await?;
        let mut foreign = Vec::new();
        let owners: Vec<(String, String)> = rows
            .iter()
            .map(|r| Ok((col(r, "id")?, col(r, "source")?)))
            .collect::<Result<_, StoreError>>()?;
        // A template the repository dropped stays while servers still use it.
        sqlx::query(
            "DELETE FROM templates WHERE source = $1 AND id NOT IN (SELECT template FROM servers)",
        )
        .bind(&source)
        .execute(&mut *tx)
        .await?;
        let mut count = 0i64;
        for (id, body) in templates {
            if owners
                .iter()
                .any(|(oid, osrc)| oid == id && *osrc != source)
            {
                foreign.push(id.clone());
                continue;
            }
            let res = sqlx::query("UPDATE templates SET body = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(body)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if res.rows_affected() == 0 {
                insert_template(&mut tx, id, body, &source, now).await?;
            }
            count += 1;
        }
        sqlx::query(
            "UPDATE template_repos SET synced_at = $2, sync_error = NULL, template_count = $3 WHERE id = $1",
        )
        .bind(repo_id)
        .bind(now)
        .bind(count)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(foreign)
    }

    pub async fn repo_sync_failed(&self, repo_id: &str, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE template_repos SET synced_at = $2, sync_error = $3 WHERE id = $1")
            .bind(repo_id)
            .bind(now_millis())
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `Conflict` when the location is already added.
    pub async fn add_template_repo(
        &self,
        location: &str,
        kind: &str,
    ) -> Result<TemplateRepo, StoreError> {
        let repo = TemplateRepo {
            id: new_id(),
            location: location.to_owned(),
            kind: kind.to_owned(),
            added_at: now_millis(),
            synced_at: None,
            sync_error: None,
            template_count: 0,
        };
        sqlx::query(
            "INSERT INTO template_repos (id, location, kind, added_at, template_count) VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(&repo.id)
        .bind(&repo.location)
        .bind(&repo.kind)
        .bind(repo.added_at)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "that repository is already added"))?;
        Ok(repo)
    }

    pub async fn list_template_repos(&self) -> Result<Vec<TemplateRepo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, location, kind, added_at, synced_at, sync_error, template_count \
             FROM template_repos ORDER BY added_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(repo_from_row).collect()
    }

    pub async fn get_template_repo(&self, id: &str) -> Result<Option<TemplateRepo>, StoreError> {
        let row = sqlx::query(
            "SELECT id, location, kind, added_at, synced_at, sync_error, template_count \
             FROM template_repos WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(repo_from_row).transpose()
    }

    /// Removes the repository and the templates it provided.
    pub async fn delete_template_repo(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM templates WHERE source = $1")
            .bind(format!("repo:{id}"))
            .execute(&mut *tx)
            .await?;
        let res = sqlx::query("DELETE FROM template_repos WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(res.rows_affected() > 0)
    }
}
