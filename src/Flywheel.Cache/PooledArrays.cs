using System.Buffers;

namespace Flywheel.Cache;

/// <summary>Helpers for arrays rented from <see cref="ArrayPool{T}.Shared"/> and held in nullable fields.</summary>
public static class PooledArrays
{
    /// <summary>Returns the array to the shared pool and clears the field; a second call does nothing.</summary>
    public static void Return<T>(ref T[]? array)
    {
        if (array is not null)
        {
            ArrayPool<T>.Shared.Return(array);
            array = null;
        }
    }
}
