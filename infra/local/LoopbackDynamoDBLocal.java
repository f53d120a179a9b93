// Starts DynamoDB Local listening on the loopback interface only.
//
//   java -cp CLASSDIR:DynamoDBLocal.jar LoopbackDynamoDBLocal [DynamoDB Local options]
//
// DynamoDB Local has no option for the listen address: it builds its Jetty server
// from the port alone, which listens on every interface. This launcher builds the
// server exactly as DynamoDB Local's own main does (same options), sets the host of
// its connectors to 127.0.0.1 (-Dgancho.listenHost overrides) before starting it, and
// exits with an error if the server's layout is not the expected one, rather than
// listen anywhere else. Telemetry is not set up: Gancho always passes -disableTelemetry.
import java.lang.reflect.Field;
import org.eclipse.jetty.server.AbstractNetworkConnector;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("gancho.listenHost", "127.0.0.1");
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        Connector[] connectors = server.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local has no connector to bind to " + host);
        }
        for (Connector c : connectors) {
            if (!(c instanceof AbstractNetworkConnector)) {
                throw new IllegalStateException("unexpected connector " + c.getClass().getName());
            }
            ((AbstractNetworkConnector) c).setHost(host);
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on " + host + " only");
        proxy.join();
    }
}
