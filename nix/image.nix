# OCI image of the daemon, built without Docker:
#   nix build .#image && docker load < result
#   docker run -p 8080:8080 -p 9092:9092 -v flywheel:/data flywheel-cache:latest
{
  dockerTools,
  cacert,
  flywheel,
  tag ? "latest",
}:

let
  # A fixed non-root uid/gid; /data is created owned by it so a fresh named volume is writable.
  uid = "10001";
  gid = "10001";
in
dockerTools.buildLayeredImage {
  name = "flywheel-cache";
  inherit tag;

  contents = [
    flywheel
    # TLS roots for S3, upstream caches and registries.
    cacert
  ];

  # Runs under fakeroot in the image's root folder (paths are relative to it).
  fakeRootCommands = ''
    mkdir -p ./data ./tmp ./etc
    chown ${uid}:${gid} ./data
    chmod 0700 ./data
    chmod 1777 ./tmp
    echo 'flywheel:x:${uid}:${gid}:Flywheel.Cache:/data:/sbin/nologin' > ./etc/passwd
    echo 'flywheel:x:${gid}:' > ./etc/group
  '';

  config = {
    User = "${uid}:${gid}";
    WorkingDir = "/data";
    Cmd = [
      "flywheel"
      "serve"
      "--http"
      "0.0.0.0:8080"
      "--grpc"
      "0.0.0.0:9092"
      "--data"
      "/data"
    ];
    Env = [
      "PATH=/bin"
      "HOME=/data"
      "TMPDIR=/tmp"
      "SSL_CERT_FILE=${cacert}/etc/ssl/certs/ca-bundle.crt"
      "DOTNET_CLI_TELEMETRY_OPTOUT=1"
    ];
    ExposedPorts = {
      "8080/tcp" = { };
      "9092/tcp" = { };
    };
    Volumes = {
      "/data" = { };
    };
    Labels = {
      "org.opencontainers.image.title" = "flywheel-cache";
      "org.opencontainers.image.description" = flywheel.meta.description;
    };
  };
}
