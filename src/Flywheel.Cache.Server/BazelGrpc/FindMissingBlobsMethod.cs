using Build.Bazel.Remote.Execution.V2;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;

namespace Flywheel.Cache.Server.BazelGrpc;

/// <summary>
/// ContentAddressableStorage.FindMissingBlobs bound with its own marshaller pair: the request is decoded straight from
/// the received payload into a <see cref="FindMissingBlobsCall"/>, and the answer is that same object encoded straight
/// into the response's buffer (<see cref="FindMissingBlobsCall"/> says why). On the wire it is the generated method.
/// </summary>
internal sealed class FindMissingBlobsMethod : IServiceMethodProvider<ContentAddressableStorageService>
{
    public const string Name = "FindMissingBlobs";

    private static readonly Marshaller<FindMissingBlobsCall> Marshaller = Marshallers.Create<FindMissingBlobsCall>(Serialize, Deserialize);

    public static readonly Method<FindMissingBlobsCall, FindMissingBlobsCall> Method =
        new(MethodType.Unary, ContentAddressableStorage.Descriptor.FullName, Name, Marshaller, Marshaller);

    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<ContentAddressableStorageService> context) =>
        context.AddUnaryMethod(
            Method,
            [new HttpMethodMetadata([HttpMethods.Post])],
            static (service, request, call) => service.FindMissingAsync(request, call));

    /// <summary>Decodes (and copies) the payload; a bad digest is this call's INVALID_ARGUMENT, as in any handler.</summary>
    private static FindMissingBlobsCall Deserialize(DeserializationContext context)
    {
        try
        {
            return FindMissingBlobsCall.Decode(context.PayloadAsReadOnlySequence());
        }
        catch (CacheException e)
        {
            // Deserialization happens before the interceptors run: map here, with the same mapping.
            throw GrpcErrorMapping.ToRpcException(e);
        }
    }

    private static void Serialize(FindMissingBlobsCall call, SerializationContext context)
    {
        context.SetPayloadLength(call.Length);
        call.WriteTo(context.GetBufferWriter());
        context.Complete();
    }

    /// <summary>Passes the generated service's methods on to Grpc.AspNetCore's binder, all but FindMissingBlobs.</summary>
    internal sealed class BinderWithout(ServiceBinderBase inner) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        {
            if (method.Name != Name)
            {
                inner.AddMethod(method, handler);
            }
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(method, handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(method, handler);

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            inner.AddMethod(method, handler);
    }
}
