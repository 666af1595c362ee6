return await Flywheel.Cache.Server.Cli.FlywheelCommandLine.RunAsync(args);
