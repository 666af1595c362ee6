namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>A Nix signing key pair made by <c>nix key generate-secret</c>.</summary>
/// <param name="SecretKeyFile">File holding <c>name:base64(64-byte ed25519 secret)</c>, for <c>nix store sign -k</c> and <c>?secret-key=</c>.</param>
/// <param name="PublicKey"><c>name:base64(32-byte ed25519 public key)</c>, for <c>trusted-public-keys</c>.</param>
public sealed record NixSigningKey(string Name, string SecretKeyFile, string SecretKey, string PublicKey);
