//! Which paths of an image's root differ from its base root: they form the image's own layer.

use std::collections::BTreeSet;
use std::fs::{self, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The changes of `upper` against `lower`.
#[derive(Debug, Default)]
pub struct Diff {
    /// Paths new or changed in `upper`, with their parent directories.
    pub include: BTreeSet<PathBuf>,
    /// Paths of `lower` missing from `upper` (a layer cannot express them without whiteouts).
    pub removed: Vec<PathBuf>,
}

pub fn diff(lower: &Path, upper: &Path) -> Result<Diff> {
    let mut out = Diff::default();
    walk(lower, upper, Path::new(""), &mut out)?;
    let parents: Vec<PathBuf> = out
        .include
        .iter()
        .flat_map(|p| {
            p.ancestors()
                .skip(1)
                .filter(|a| !a.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .collect::<Vec<_>>()
        })
        .collect();
    out.include.extend(parents);
    Ok(out)
}

fn walk(lower: &Path, upper: &Path, rel: &Path, out: &mut Diff) -> Result<()> {
    let upper_dir = upper.join(rel);
    let mut names: Vec<_> = fs::read_dir(&upper_dir)
        .with_context(|| format!("read {}", upper_dir.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    for name in &names {
        let child = rel.join(name);
        let up = fs::symlink_metadata(upper.join(&child))?;
        match fs::symlink_metadata(lower.join(&child)) {
            Ok(low) if same(&lower.join(&child), &low, &upper.join(&child), &up)? => {}
            _ => {
                out.include.insert(child.clone());
            }
        }
        if up.is_dir() {
            walk(lower, upper, &child, out)?;
        }
    }
    if let Ok(entries) = fs::read_dir(lower.join(rel)) {
        for entry in entries.flatten() {
            if !names.contains(&entry.file_name()) {
                out.removed.push(rel.join(entry.file_name()));
            }
        }
    }
    Ok(())
}

fn same(lower: &Path, low: &Metadata, upper: &Path, up: &Metadata) -> Result<bool> {
    if low.file_type() != up.file_type()
        || low.mode() != up.mode()
        || low.uid() != up.uid()
        || low.gid() != up.gid()
    {
        return Ok(false);
    }
    if up.file_type().is_symlink() {
        return Ok(fs::read_link(lower)? == fs::read_link(upper)?);
    }
    if up.is_file() {
        return Ok(low.len() == up.len() && same_contents(lower, upper)?);
    }
    Ok(true)
}

fn same_contents(a: &Path, b: &Path) -> Result<bool> {
    let (mut fa, mut fb) = (fs::File::open(a)?, fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_new_and_changed_files_with_parents() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("l"), tmp.path().join("u"));
        for root in [&lower, &upper] {
            fs::create_dir_all(root.join("etc")).unwrap();
            fs::create_dir_all(root.join("usr/bin")).unwrap();
            fs::write(root.join("etc/same"), "x").unwrap();
            fs::write(root.join("etc/passwd"), "root").unwrap();
        }
        fs::write(upper.join("etc/passwd"), "rooo").unwrap();
        fs::write(upper.join("usr/bin/new"), "n").unwrap();
        fs::write(lower.join("etc/gone"), "g").unwrap();
        let d = diff(&lower, &upper).unwrap();
        let got: Vec<_> = d
            .include
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            got,
            vec!["etc", "etc/passwd", "usr", "usr/bin", "usr/bin/new"]
        );
        assert_eq!(d.removed, vec![PathBuf::from("etc/gone")]);
    }
}
