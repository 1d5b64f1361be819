//! Issue 9's headline scenarios with podman 5 (Debian sid root): `--userns=auto` (bind
//! sources under podman's root-owned 0700 userdata) and `-v SRC:DST:idmap`. They pass with
//! runc 1.3.6 too. Uses the clients harness (private storage, cleanup on drop).

#[path = "../clients/mod.rs"]
mod harness;

use harness::podman::Podman;
use std::fs;

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn podman_userns_auto_and_idmap_volume() {
    let p = Podman::new();
    let img = p.import_busybox();
    let out = p
        .run(&[
            "--rm",
            "--userns=auto",
            img,
            "sh",
            "-c",
            "head -1 /etc/hosts; id -u; cat /proc/self/uid_map",
        ])
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains("localhost"), "{}", out.stdout);
    assert_eq!(lines[1], "0", "{}", out.stdout);
    let map: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(map[0], "0");
    assert_ne!(map[1], "0", "not a user namespace: {}", out.stdout);

    let vol = p.dir().join("vol");
    fs::create_dir(&vol).unwrap();
    fs::write(vol.join("f"), "vol\n").unwrap();
    let spec = format!("{}:/vol:idmap", vol.display());
    let out = p
        .run(&[
            "--rm",
            "--userns=auto",
            "-v",
            &spec,
            img,
            "sh",
            "-c",
            "stat -c %u /vol/f; cat /vol/f; touch /vol/new",
        ])
        .ok();
    assert_eq!(out.stdout, "0\nvol\n");
    // Created by the container's root through the idmapped mount: host root on disk.
    let md = std::os::unix::fs::MetadataExt::uid(&fs::metadata(vol.join("new")).unwrap());
    assert_eq!(md, 0);
}
