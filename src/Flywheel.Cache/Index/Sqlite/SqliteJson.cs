using System.Buffers;
using System.Text;
using System.Text.Json;
using Flywheel.Cache.Storage;

namespace Flywheel.Cache.Index.Sqlite;

/// <summary>
/// Batches travel to SQLite as one JSON array text parameter, unpacked with <c>json_each</c>: one statement
/// per batch of any size, no limit on bound parameters, and a plan that is prepared once.
/// </summary>
internal static class SqliteJson
{
    /// <summary><c>["&lt;hex&gt;",…]</c>; SQL reads each as <c>unhex(value)</c>.</summary>
    public static string DigestArray(IReadOnlyList<BlobDigest> digests)
    {
        var length = 2 + (digests.Count * (BlobDigest.HexLength + 2)) + Math.Max(0, digests.Count - 1);
        return string.Create(length, digests, static (span, list) =>
        {
            span[0] = '[';
            var position = 1;
            for (var i = 0; i < list.Count; i++)
            {
                if (i > 0)
                {
                    span[position++] = ',';
                }

                span[position++] = '"';
                list[i].WriteHex(span.Slice(position, BlobDigest.HexLength));
                position += BlobDigest.HexLength;
                span[position++] = '"';
            }

            span[position] = ']';
        });
    }

    /// <summary>A JSON array of strings, escaped as JSON requires.</summary>
    public static string StringArray(IReadOnlyCollection<string> values) => Array(values, 40, static (writer, value) => writer.WriteStringValue(value));

    /// <summary>A JSON array of integers.</summary>
    public static string LongArray(IReadOnlyCollection<long> values) => Array(values, 14, static (writer, value) => writer.WriteNumberValue(value));

    private static string Array<T>(IReadOnlyCollection<T> values, int sizeHint, Action<Utf8JsonWriter, T> write)
    {
        var buffer = new ArrayBufferWriter<byte>(16 + (values.Count * sizeHint));
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var value in values)
            {
                write(writer, value);
            }

            writer.WriteEndArray();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
