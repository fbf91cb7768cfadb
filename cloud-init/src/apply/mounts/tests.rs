use super::*;
use test_support::{have, sh, unique, Loop, LoopOptions, NsHolder};

fn row(fields: &[&str]) -> MountEntry {
    MountEntry(fields.iter().map(|s| (*s).to_owned()).collect())
}

/// The result with the error as its message, to compare whole.
fn done(o: &Outcome) -> Result<&Done, String> {
    o.result.as_ref().map_err(ToString::to_string)
}

fn nodev() -> Vec<String> {
    nodev_filesystems()
}

/// Options that mount into `holder`'s namespace, the way cloud-init-execute enters the host's.
fn into(holder: &NsHolder) -> Options {
    Options {
        namespace: Some(holder.ns()),
        device_wait: Duration::from_secs(5),
        timeout: Duration::from_secs(60),
    }
}

#[test]
fn rows_are_classified_with_defaults() {
    let p = plan(0, &row(&["/dev/vdb", "/mnt/s", "ext4", ""]), &nodev()).unwrap();
    assert_eq!((p.kind.clone(), p.fstype.as_str()), (Kind::Device, "ext4"));
    assert_eq!(p.options, MountOptions::default());

    let p = plan(1, &row(&["LABEL=DATA", "/mnt/d"]), &nodev()).unwrap();
    assert_eq!((p.kind.clone(), p.fstype.as_str()), (Kind::Device, "auto"));

    let p = plan(2, &row(&["/swapfile", "none", "swap", "sw"]), &nodev()).unwrap();
    assert_eq!(p.kind, Kind::Swap);
    let p = plan(2, &row(&["UUID=abc", "", "swap"]), &nodev()).unwrap();
    assert_eq!(p.kind, Kind::Swap);

    let p = plan(
        3,
        &row(&["/srv/data", "/mnt/data", "none", "bind,ro"]),
        &nodev(),
    )
    .unwrap();
    assert_eq!(p.kind, Kind::Bind);
    assert_eq!(p.options.flags, nix::mount::MsFlags::MS_RDONLY);

    let p = plan(4, &row(&["tmpfs", "/mnt/t", "tmpfs", "size=1m"]), &nodev()).unwrap();
    assert_eq!(p.kind, Kind::Virtual);

    let p = plan(
        5,
        &row(&["10.0.0.9:/export", "/mnt/nfs", "nfs", "soft"]),
        &nodev(),
    )
    .unwrap();
    assert_eq!(
        p.kind,
        Kind::Nfs {
            attempts: vec![
                "soft,addr=10.0.0.9,vers=4".into(),
                "soft,addr=10.0.0.9,vers=3".into()
            ]
        }
    );
    let p = plan(
        6,
        &row(&["nas:/x", "/mnt/nfs", "nfs4", "addr=10.1.1.1"]),
        &nodev(),
    )
    .unwrap();
    assert_eq!(
        p.kind,
        Kind::Nfs {
            attempts: vec!["addr=10.1.1.1".into()]
        }
    );
}

#[test]
fn bad_rows_are_refused_with_a_reason() {
    let nd = nodev();
    for (fields, why) in [
        (vec!["/dev/vdb"], "no mount point"),
        (vec!["", "/mnt/x"], "no device"),
        (vec!["/dev/vdb", "relative", "ext4"], "absolute"),
        (vec!["vdb", "/mnt/x", "ext4"], "LABEL="),
        (vec!["data", "/mnt/x", "none", "bind"], "absolute"),
        (vec!["nas-export", "/mnt/x", "nfs"], "server:/path"),
        (vec!["/dev/vdb", "/mnt/x", "ext4", "pri=x"], "priority"),
    ] {
        let err = plan(0, &row(&fields), &nd).unwrap_err().to_string();
        assert!(err.contains(why), "{fields:?}: {err}");
    }
}

#[test]
fn failures_are_reported_per_row_and_the_rest_still_mount() {
    let Some(holder) = NsHolder::start() else {
        eprintln!("skipped: needs root to create a mount namespace");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let t = |n: &str| dir.path().join(n).display().to_string();
    let entries = vec![
        row(&["LABEL=ros-missing-label", &t("missing"), "ext4", "defaults"]),
        row(&["vdb", &t("bad")]),
        row(&["tmpfs", &t("tmp"), "tmpfs", "size=1m,mode=0700,noexec"]),
        row(&["LABEL=ros-missing-2", &t("optional"), "auto", "nofail"]),
        row(&["tmpfs", &t("later"), "tmpfs", "noauto"]),
    ];
    let opts = Options {
        device_wait: Duration::from_millis(300),
        ..into(&holder)
    };
    let out = apply_all(&entries, &opts);
    assert_eq!(out.len(), 5);
    assert!(out[0]
        .result
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("not found"));
    assert!(out[1].result.is_err());
    assert_eq!(
        done(&out[2]),
        Ok(&Done::Mounted {
            source: "tmpfs".into(),
            fstype: "tmpfs".into()
        })
    );
    assert!(out[3].nofail && out[3].result.is_err());
    assert_eq!(done(&out[4]), Ok(&Done::Skipped));
    let info = holder.mountinfo();
    let line = info
        .lines()
        .find(|l| l.contains(&format!(" {} ", t("tmp"))))
        .expect("tmpfs not in the namespace");
    assert!(
        line.contains("noexec") && line.contains("mode=700"),
        "{line}"
    );
    assert!(!apply::is_mount_point(Path::new(&t("tmp"))), "leaked out");

    // Again: already there, nothing is stacked on top.
    let again = apply_all(&entries[2..3], &opts);
    assert_eq!(done(&again[0]), Ok(&Done::AlreadyMounted));
}

#[test]
fn bind_mounts_a_host_path_read_only() {
    let Some(holder) = NsHolder::start() else {
        eprintln!("skipped: needs root to create a mount namespace");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello"), "from the source\n").unwrap();
    let target = dir.path().join("mnt/bound");
    let out = apply_all(
        &[row(&[
            &src.display().to_string(),
            &target.display().to_string(),
            "none",
            "bind,ro",
        ])],
        &into(&holder),
    );
    assert!(out[0].result.is_ok(), "{:?}", out[0]);
    let seen = holder.view(&target).join("hello");
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "from the source\n");
    // Read-only through the mount, still writable at the source.
    assert!(std::fs::write(holder.view(&target).join("new"), "x").is_err());
    assert!(!target.join("hello").exists(), "the bind leaked out");
}

#[test]
fn ext4_on_a_loop_device_mounts_by_label() {
    if !have(&["mkfs.ext4", "losetup"]) {
        return;
    }
    let Some(holder) = NsHolder::start() else {
        eprintln!("skipped: needs root to create a mount namespace");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let label = unique("rosmnt");
    sh(
        "mkfs.ext4",
        &["-q", "-F", "-L", &label, &img.display().to_string()],
    );
    let Some(lo) = Loop::try_attach(&img, LoopOptions::default())
        .map_err(|e| eprintln!("{e}"))
        .ok()
    else {
        eprintln!("skipped: no loop device");
        return;
    };
    let target = dir.path().join("media/data");
    let entries = [row(&[
        &format!("LABEL={label}"),
        &target.display().to_string(),
        "auto",
        "noatime",
    ])];
    let out = apply_all(&entries, &into(&holder));
    assert_eq!(
        done(&out[0]),
        Ok(&Done::Mounted {
            source: lo.0.display().to_string(),
            fstype: "ext4".into()
        }),
        "{:?}",
        out[0]
    );
    assert!(holder.view(&target).join("lost+found").is_dir());
    let info = holder.mountinfo();
    assert!(
        info.lines()
            .any(|l| l.contains(&format!(" {} ", target.display())) && l.contains("noatime")),
        "{info}"
    );
    let again = apply_all(&entries, &into(&holder));
    assert_eq!(done(&again[0]), Ok(&Done::AlreadyMounted));
    // The namespace (and the mount) go before the loop device is detached.
    drop(holder);
}

/// Swap is global, so this one really turns a swap file on (and off again).
#[test]
fn swap_on_a_file_with_priority() {
    if !have(&["mkswap"]) {
        return;
    }
    let Some(holder) = NsHolder::start() else {
        eprintln!("skipped: needs root");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("swapfile");
    // Written out, not sparse: the kernel refuses swap files with holes.
    std::fs::write(&file, vec![0u8; 8 << 20]).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    sh("mkswap", &[&file.display().to_string()]);

    struct SwapOff(PathBuf);
    impl Drop for SwapOff {
        fn drop(&mut self) {
            let p = std::ffi::CString::new(self.0.display().to_string()).unwrap();
            // SAFETY: a valid path.
            unsafe { libc::swapoff(p.as_ptr()) };
        }
    }
    let _off = SwapOff(file.clone());
    let entries = [row(&[
        &file.display().to_string(),
        "none",
        "swap",
        "sw,pri=7",
    ])];
    let out = apply_all(&entries, &into(&holder));
    match &out[0].result {
        Ok(Done::SwapOn { device }) => assert_eq!(device, &file),
        // A kernel without swap support, or a sandbox that forbids it.
        Err(e)
            if e.to_string().contains("not permitted")
                || e.to_string().contains("not implemented") =>
        {
            eprintln!("skipped: this kernel refuses swap here: {e}");
            return;
        }
        other => panic!("{other:?}"),
    }
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap();
    let line = swaps
        .lines()
        .find(|l| l.starts_with(&file.display().to_string()))
        .expect("not in /proc/swaps");
    assert_eq!(line.split_whitespace().nth(4), Some("7"), "{line}");
    let again = apply_all(&entries, &into(&holder));
    assert_eq!(done(&again[0]), Ok(&Done::AlreadySwap));
}

#[test]
fn a_swap_without_signature_is_explained() {
    let Some(holder) = NsHolder::start() else {
        eprintln!("skipped: needs root");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notswap");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let out = apply_all(
        &[row(&[&file.display().to_string(), "none", "swap"])],
        &into(&holder),
    );
    let err = out[0].result.as_ref().unwrap_err().to_string();
    assert!(err.contains("swapon"), "{err}");
}

/// /mnt itself is a mount point (PID 1's shared bind): a row for /mnt mounts over it, and
/// the mount it made is what a second run recognises. The same for a bind mount.
#[test]
fn a_mount_point_that_holds_something_else_is_mounted_over_once() {
    let Some(holder) = NsHolder::start() else {
        eprintln!("skipped: needs root to create a mount namespace");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    let shared = mnt.display().to_string();
    host::mount_namespace::run_in(&holder.ns(), move || {
        host::mount_points::make_shared(&[shared.as_str()])
    })
    .unwrap();
    let src = dir.path().join("data");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    let entries = [
        row(&["tmpfs", &mnt.display().to_string(), "tmpfs", "size=1m"]),
        row(&[
            &src.display().to_string(),
            &mnt.join("data").display().to_string(),
            "none",
            "bind",
        ]),
    ];
    let first = apply_all(&entries, &into(&holder));
    assert!(
        first
            .iter()
            .all(|o| matches!(o.result, Ok(Done::Mounted { .. }))),
        "{first:?}"
    );
    assert!(holder.view(&mnt.join("data/f")).exists());
    let second = apply_all(&entries, &into(&holder));
    assert!(
        second
            .iter()
            .all(|o| matches!(o.result, Ok(Done::AlreadyMounted))),
        "{second:?}"
    );
    // The tmpfs went on top of the shared bind, once.
    let stacked = holder
        .mountinfo()
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(mnt.to_str().unwrap()))
        .count();
    assert_eq!(stacked, 2);
}

/// The texts logs and callers match on, as they were when these were plain strings.
#[test]
fn error_texts_are_unchanged() {
    use apply::{ApplyError, Attempt, MountCallError, Tried};
    use nix::errno::Errno;
    let attempts = ApplyError::AllAttemptsFailed(vec![
        Attempt {
            tried: Tried::Data("addr=10.0.0.9,vers=4".into()),
            error: MountCallError::Mount(Errno::ETIMEDOUT),
        },
        Attempt {
            tried: Tried::FsType("ext4".into()),
            error: MountCallError::Propagation(Errno::EINVAL),
        },
        Attempt {
            tried: Tried::Only,
            error: MountCallError::Remount(Errno::EPERM),
        },
    ]);
    assert_eq!(
        attempts.to_string(),
        format!(
            "[addr=10.0.0.9,vers=4] {}; ext4: setting propagation: {}; \
             remounting with the options: {}",
            Errno::ETIMEDOUT.desc(),
            Errno::EINVAL.desc(),
            Errno::EPERM.desc()
        )
    );
    assert_eq!(
        ApplyError::Swapon(Errno::EINVAL).to_string(),
        format!(
            "swapon: {} (no swap signature, or a sparse file: make it with dd or fallocate, \
             then mkswap)",
            Errno::EINVAL.desc()
        )
    );
    assert_eq!(
        ApplyError::Swapon(Errno::EPERM).to_string(),
        format!("swapon: {}", Errno::EPERM.desc())
    );
    assert_eq!(
        ApplyError::DeviceNotFound("LABEL=x".into()).to_string(),
        "device LABEL=x not found"
    );
    assert_eq!(
        MountError::StillInProgress(Duration::from_secs(120)).to_string(),
        "still in progress after 120 s; left to finish in the background"
    );
    let io = std::io::Error::other("boom");
    assert_eq!(
        MountError::NotApplied(std::sync::Arc::new(StartError::Thread(io))).to_string(),
        "not applied: boom"
    );
    let nd = nodev();
    for (fields, text) in [
        (vec!["/dev/vdb"], "no mount point".to_owned()),
        (
            vec!["nas:/x", "/mnt/x", "nfs", "addr=nas"],
            "addr=nas is not an address".to_owned(),
        ),
        (
            vec!["vdb", "/mnt/x"],
            "device \"vdb\" is not LABEL=, UUID=, PARTUUID=, PARTLABEL= or a path".to_owned(),
        ),
        (
            vec!["/dev/vdb", "rel"],
            "mount point \"rel\" must be an absolute path".to_owned(),
        ),
        (
            vec!["data", "/mnt/x", "none", "bind"],
            "bind source \"data\" must be an absolute path".to_owned(),
        ),
    ] {
        let err = plan(0, &row(&fields), &nd).unwrap_err();
        assert_eq!(MountError::from(err).to_string(), text, "{fields:?}");
    }
}
