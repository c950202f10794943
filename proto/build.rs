//! Compiles `proto/` with protox (pure Rust, so no `protoc` is needed) and
//! generates messages, clients and servers with tonic-prost-build.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "todo/user/v1/user.proto",
    "todo/task/v1/task.proto",
    "todo/notify/v1/notify.proto",
    "google/rpc/status.proto",
    "google/rpc/error_details.proto",
    "google/type/date.proto",
];

/// Each service's own file, by the name of the set built for its port.
const SERVICE_FILES: &[(&str, &str)] = &[
    ("user", "todo/user/v1/user.proto"),
    ("task", "todo/task/v1/task.proto"),
    ("notify", "todo/notify/v1/notify.proto"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    let files: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(&files)?;

    // The raw encoding keeps every option, including the `google.api.http`
    // extension that the typed `prost_types::FileDescriptorSet` would drop on
    // a round trip; reflection and the edge read these bytes.
    std::fs::write(
        out.join("descriptor_set.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // One set per service port, holding only that service's file and its
    // imports: reflection on a port then describes exactly what the port
    // serves, and a service served elsewhere is "not found".
    for (name, file) in SERVICE_FILES {
        let mut one = protox::Compiler::new([&root])?;
        one.include_imports(true).include_source_info(true);
        one.open_file(root.join(file))?;
        std::fs::write(
            out.join(format!("{name}_descriptor_set.bin")),
            one.encode_file_descriptor_set(),
        )?;
    }

    let fds = compiler.file_descriptor_set();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_well_known_types(false)
        .compile_fds(fds)?;

    for p in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    for p in [
        "google/api/http.proto",
        "google/api/annotations.proto",
        "todo/api/v1/schema.proto",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    Ok(())
}
