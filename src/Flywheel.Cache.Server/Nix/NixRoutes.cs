namespace Flywheel.Cache.Server.Nix;

/// <summary>The Nix binary cache front door: every route under <c>/&lt;cache&gt;/</c>.</summary>
internal static class NixRoutes
{
    public static void Map(IEndpointRouteBuilder app)
    {
        string[] read = [HttpMethods.Get, HttpMethods.Head];
        string[] write = [HttpMethods.Put];
        app.MapMethods("/{cache}/nix-cache-info", read, CacheInfoEndpoint.GetAsync);
        app.MapMethods("/{cache}/nix-cache-info", write, CacheInfoEndpoint.PutAsync);
        app.MapMethods("/{cache}/{hash}.narinfo", read, NarInfoEndpoint.GetAsync);
        app.MapMethods("/{cache}/{hash}.narinfo", write, NarInfoEndpoint.PutAsync);
        app.MapMethods("/{cache}/nar/{file}", read, NarEndpoint.GetAsync);
        app.MapMethods("/{cache}/nar/{file}", write, NarEndpoint.PutAsync);
        app.MapMethods("/{cache}/log/{drv}", read, CacheFileEndpoint.GetLogAsync);
        app.MapMethods("/{cache}/log/{drv}", write, CacheFileEndpoint.PutLogAsync);
        app.MapMethods("/{cache}/{hash}.ls", read, CacheFileEndpoint.GetListingAsync);
        app.MapMethods("/{cache}/{hash}.ls", write, CacheFileEndpoint.PutListingAsync);
    }
}
