using DistributedLog.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers DistributedLog in a service collection.</summary>
public static class DistributedLogServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="DistributedLogOptions"/> (configured by <paramref name="configure"/>, validated on first use and at
    /// host start) and a singleton <see cref="IDistributedLogNamespaceProvider"/> that opens the namespace on first use.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options (at least <see cref="DistributedLogOptions.MetadataUri"/>).</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddDistributedLog(this IServiceCollection services, Action<DistributedLogOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<DistributedLogOptions>().Configure(configure);
        return services.AddDistributedLogCore();
    }

    /// <summary>
    /// Adds <see cref="DistributedLogOptions"/> bound from <paramref name="configuration"/> (typically
    /// <c>configuration.GetSection(DistributedLogOptions.SectionName)</c>), then adjusted by <paramref name="configure"/>
    /// when given, and a singleton <see cref="IDistributedLogNamespaceProvider"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The configuration section holding the options' properties.</param>
    /// <param name="configure">Further settings applied after binding; optional.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    public static IServiceCollection AddDistributedLog(this IServiceCollection services, IConfiguration configuration,
        Action<DistributedLogOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = services.AddOptions<DistributedLogOptions>().Bind(configuration);
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        return services.AddDistributedLogCore();
    }

    private static IServiceCollection AddDistributedLogCore(this IServiceCollection services)
    {
        services.AddOptions<DistributedLogOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DistributedLogOptions>, DistributedLogOptionsValidator>());
        services.TryAddSingleton<IDistributedLogNamespaceProvider>(sp => new DistributedLogNamespaceProvider(
            sp.GetRequiredService<IOptions<DistributedLogOptions>>(), sp.GetService<ILoggerFactory>(), sp.GetService<TimeProvider>()));
        return services;
    }
}
