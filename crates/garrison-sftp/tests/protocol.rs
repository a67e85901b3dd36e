//! What OpenSSH's client does not show: the server's status messages, the
//! `limits@openssh.com` answer and malformed requests, through russh's client and
//! russh-sftp's raw session.

mod common;

use common::*;
use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpClientError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use std::sync::Arc;

struct AnyHost;

impl client::Handler for AnyHost {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

async fn connect(
    f: &Fixture,
    user: &str,
    password: &str,
) -> (client::Handle<AnyHost>, RawSftpSession) {
    let config = Arc::new(client::Config::default());
    let mut session = client::connect(config, ("127.0.0.1", f.port()), AnyHost)
        .await
        .unwrap();
    let auth = session
        .authenticate_password(format!("{user}.{SERVER}"), password)
        .await
        .unwrap();
    assert!(auth.success(), "sign-in failed");
    let channel = session.channel_open_session().await.unwrap();
    channel.request_subsystem(true, "sftp").await.unwrap();
    let sftp = RawSftpSession::new(channel.into_stream());
    sftp.init().await.unwrap();
    (session, sftp)
}

fn status(e: SftpClientError) -> (StatusCode, String) {
    match e {
        SftpClientError::Status(s) => (s.status_code, s.error_message),
        other => panic!("not a status: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_message_limits_and_refusals() {
    let mut f = Fixture::new(Some(600 * 1024), |_| {}).await;
    let (_session, sftp) = connect(&f, "alice", "correct horse").await;

    let limits = sftp.limits().await.unwrap();
    assert_eq!(limits.max_packet_len, 256 * 1024);
    assert_eq!(limits.max_read_len, 255 * 1024);
    assert_eq!(limits.max_write_len, 255 * 1024);

    // Quota: the write that passes the limit fails with "quota exceeded"; closing the
    // handle does not commit anything.
    let h = sftp
        .open(
            "/big.bin",
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
            FileAttributes::empty(),
        )
        .await
        .unwrap()
        .handle;
    let chunk = vec![1u8; 200 * 1024];
    let mut failed = None;
    for i in 0..5u64 {
        if let Err(e) = sftp.write(&h, i * chunk.len() as u64, chunk.clone()).await {
            failed = Some(status(e));
            break;
        }
    }
    let (code, msg) = failed.expect("the quota was never hit");
    assert_eq!(code, StatusCode::Failure);
    assert_eq!(msg, "quota exceeded");
    assert!(sftp.close(&h).await.is_err());
    assert!(
        std::fs::read_dir(&f.root).unwrap().next().is_none(),
        "something was left"
    );

    // Symlinks, paths above the root, bad handles.
    let (code, _) = status(sftp.symlink("/l", "/etc/passwd").await.unwrap_err());
    assert_eq!(code, StatusCode::PermissionDenied);
    let (code, _) = status(
        sftp.open("/../x", OpenFlags::READ, FileAttributes::empty())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, StatusCode::PermissionDenied);
    let (code, _) = status(sftp.stat("/nope").await.unwrap_err());
    assert_eq!(code, StatusCode::NoSuchFile);
    let (code, _) = status(sftp.read("no-such-handle", 0, 10).await.unwrap_err());
    assert_eq!(code, StatusCode::Failure);
    assert_eq!(
        sftp.realpath("/../..").await.unwrap().files[0].filename,
        "/"
    );

    // Writes in place at offsets, reads at offsets, EOF.
    std::fs::write(f.root.join("a.txt"), b"hello world").unwrap();
    let h = sftp
        .open("a.txt", OpenFlags::WRITE, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    sftp.write(&h, 6, b"WORLD".to_vec()).await.unwrap();
    sftp.close(&h).await.unwrap();
    assert_eq!(std::fs::read(f.root.join("a.txt")).unwrap(), b"hello WORLD");
    // fsetstat size on a handle being written truncates it.
    std::fs::write(f.root.join("t.txt"), b"hello world").unwrap();
    let h = sftp
        .open("t.txt", OpenFlags::WRITE, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    let attrs = FileAttributes {
        size: Some(5),
        ..FileAttributes::empty()
    };
    sftp.fsetstat(&h, attrs).await.unwrap();
    sftp.close(&h).await.unwrap();
    assert_eq!(std::fs::read(f.root.join("t.txt")).unwrap(), b"hello");
    // setstat size on a path is not supported (nothing is changed).
    let attrs = FileAttributes {
        size: Some(1),
        ..FileAttributes::empty()
    };
    let (code, _) = status(sftp.setstat("t.txt", attrs).await.unwrap_err());
    assert_eq!(code, StatusCode::OpUnsupported);
    let h = sftp
        .open("a.txt", OpenFlags::READ, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    assert_eq!(sftp.read(&h, 6, 100).await.unwrap().data, b"WORLD");
    let (code, _) = status(sftp.read(&h, 11, 100).await.unwrap_err());
    assert_eq!(code, StatusCode::Eof);
    let (code, _) = status(sftp.write(&h, 0, b"x".to_vec()).await.unwrap_err());
    assert_eq!(code, StatusCode::Failure);
    sftp.close(&h).await.unwrap();

    // Exclusive create of an existing file.
    let (code, msg) = status(
        sftp.open(
            "a.txt",
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE,
            FileAttributes::empty(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((code, msg.as_str()), (StatusCode::Failure, "file exists"));
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_are_bounded_and_uploads_dropped_on_disconnect() {
    let mut f = Fixture::new(None, |_| {}).await;
    std::fs::write(f.root.join("a.txt"), b"a").unwrap();
    let (session, sftp) = connect(&f, "alice", "correct horse").await;
    let mut opened = 0;
    loop {
        match sftp
            .open("a.txt", OpenFlags::READ, FileAttributes::empty())
            .await
        {
            Ok(_) => opened += 1,
            Err(e) => {
                assert_eq!(status(e).1, "too many open handles");
                break;
            }
        }
        assert!(opened <= 1000, "no handle limit");
    }
    assert_eq!(opened, 128);

    // An upload in progress when the connection drops leaves nothing behind.
    let (_s2, sftp2) = connect(&f, "alice", "correct horse").await;
    let h = sftp2
        .open(
            "partial.bin",
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
            FileAttributes::empty(),
        )
        .await
        .unwrap()
        .handle;
    sftp2.write(&h, 0, vec![0u8; 64 * 1024]).await.unwrap();
    drop(sftp2);
    drop(_s2);
    drop(sftp);
    drop(session);
    assert!(
        eventually(std::time::Duration::from_secs(10), || {
            std::fs::read_dir(&f.root).unwrap().count() == 1
        })
        .await,
        "the unfinished upload left a file: {:?}",
        std::fs::read_dir(&f.root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
    f.stop().await;
}
