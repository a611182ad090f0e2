using DistributedLog.Grpc.V1;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Proxy.Services;

/// <summary>
/// What the gRPC server maps for the proxy service: the <see cref="DistributedLogProxyService"/> singleton's handlers,
/// collected once through the generated <c>BindService</c>. It exists so the methods can be bound with guarded request
/// marshallers (<see cref="ProxyEndpointMethodProvider"/>); the generated base class would bind them with the plain ones.
/// </summary>
internal sealed class ProxyEndpoint
{
    private readonly Dictionary<string, Delegate> _handlers = new(StringComparer.Ordinal);

    public ProxyEndpoint(DistributedLogProxyService service) => DistributedLogProxy.BindService(new Collector(_handlers), service);

    /// <summary>The handler of the method named <paramref name="fullName"/>, as the generated code binds it.</summary>
    public T Handler<T>(string fullName)
        where T : Delegate => (T)_handlers[fullName];

    private sealed class Collector(Dictionary<string, Delegate> handlers) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            handlers[method.FullName] = handler!;

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            handlers[method.FullName] = handler!;

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            handlers[method.FullName] = handler!;

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            handlers[method.FullName] = handler!;
    }
}

/// <summary>
/// Binds the proxy's methods with request marshallers that turn a malformed message (bad protobuf) into
/// INVALID_ARGUMENT and one warning line, instead of the framework's UNKNOWN ("Exception was thrown by handler.") and an
/// error with a stack trace: a client's mistake is not a server failure. The size limit (RESOURCE_EXHAUSTED) is checked by
/// the framework before a message is buffered whole.
/// </summary>
internal sealed partial class ProxyEndpointMethodProvider(ILogger<ProxyEndpointMethodProvider> logger) : IServiceMethodProvider<ProxyEndpoint>
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<ProxyEndpoint> context) =>
        DistributedLogProxy.BindService(new Binder(context, this), null!);

    private Method<TRequest, TResponse> Guarded<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class
        where TResponse : class
    {
        var requests = method.RequestMarshaller;
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name,
            Marshallers.Create(requests.ContextualSerializer, context => Deserialize(method.Name, requests, context)), method.ResponseMarshaller);
    }

    private T Deserialize<T>(string methodName, Marshaller<T> marshaller, DeserializationContext context)
    {
        try
        {
            return marshaller.ContextualDeserializer(context);
        }
        catch (InvalidProtocolBufferException e)
        {
            LogMalformed(logger, methodName, context.PayloadLength, e.Message);
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"The {methodName} request ({context.PayloadLength} bytes) is not a valid protobuf message: {e.Message}"));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a malformed {Method} request of {Bytes} bytes: {Error}")]
    private static partial void LogMalformed(ILogger logger, string method, int bytes, string error);

    private sealed class Binder(ServiceMethodProviderContext<ProxyEndpoint> context, ProxyEndpointMethodProvider provider) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        {
            string name = method.FullName;
            context.AddUnaryMethod(provider.Guarded(method), [],
                (endpoint, request, call) => endpoint.Handler<UnaryServerMethod<TRequest, TResponse>>(name)(request, call));
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        {
            string name = method.FullName;
            context.AddClientStreamingMethod(provider.Guarded(method), [],
                (endpoint, requests, call) => endpoint.Handler<ClientStreamingServerMethod<TRequest, TResponse>>(name)(requests, call));
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
        {
            string name = method.FullName;
            context.AddServerStreamingMethod(provider.Guarded(method), [],
                (endpoint, request, responses, call) => endpoint.Handler<ServerStreamingServerMethod<TRequest, TResponse>>(name)(request, responses, call));
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        {
            string name = method.FullName;
            context.AddDuplexStreamingMethod(provider.Guarded(method), [],
                (endpoint, requests, responses, call) => endpoint.Handler<DuplexStreamingServerMethod<TRequest, TResponse>>(name)(requests, responses, call));
        }
    }
}
