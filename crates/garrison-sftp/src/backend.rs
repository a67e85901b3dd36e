//! The agent's file layer, the one way SFTP reaches a server's files.

pub(crate) use garrison_agent::{Agent, FileWriter, ServerFiles, WriteMode};
