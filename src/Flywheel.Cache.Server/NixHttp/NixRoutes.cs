namespace Flywheel.Cache.Server.NixHttp;

/// <summary>The Nix binary cache front door: every route under <c>/&lt;cache&gt;/</c>.</summary>
internal static class NixRoutes
{
    public const string CacheInfoPattern = "/{cache}/nix-cache-info";
    public const string NarInfoPattern = "/{cache}/{hash}.narinfo";

    public static void Map(IEndpointRouteBuilder app)
    {
        string[] read = [HttpMethods.Get, HttpMethods.Head];
        string[] write = [HttpMethods.Put];
        app.MapMethods(CacheInfoPattern, read, CacheInfoEndpoint.GetAsync);
        app.MapMethods(CacheInfoPattern, write, CacheInfoEndpoint.PutAsync);
        app.MapMethods(NarInfoPattern, read, NarInfoEndpoint.GetAsync);
        app.MapMethods(NarInfoPattern, write, NarInfoEndpoint.PutAsync);
        app.MapMethods("/{cache}/nar/{file}", read, NarEndpoint.GetAsync);
        app.MapMethods("/{cache}/nar/{file}", write, NarEndpoint.PutAsync);
        app.MapMethods("/{cache}/log/{drv}", read, CacheFileEndpoint.GetLogAsync);
        app.MapMethods("/{cache}/log/{drv}", write, CacheFileEndpoint.PutLogAsync);
        app.MapMethods("/{cache}/{hash}.ls", read, CacheFileEndpoint.GetListingAsync);
        app.MapMethods("/{cache}/{hash}.ls", write, CacheFileEndpoint.PutListingAsync);
    }
}
