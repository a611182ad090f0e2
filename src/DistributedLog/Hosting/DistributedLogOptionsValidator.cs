using Microsoft.Extensions.Options;

namespace DistributedLog.Hosting;

/// <summary>
/// Validates <see cref="DistributedLogOptions"/> when they are first resolved (or at host start): an invalid setting fails
/// with an <see cref="OptionsValidationException"/> that lists every problem.
/// </summary>
public sealed class DistributedLogOptionsValidator : IValidateOptions<DistributedLogOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, DistributedLogOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.GetValidationErrors();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
