//! Outbound requests that refuse private targets.
