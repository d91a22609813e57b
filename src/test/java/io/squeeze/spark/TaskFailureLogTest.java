package io.squeeze.spark;

import io.squeeze.TestSpark;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.WriterAppender;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.layout.PatternLayout;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;

import java.io.StringWriter;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A failed task attempt is reported at WARN in one line by every job's session, though Spark's own task loggers are off. */
class TaskFailureLogTest {
    @Test
    void aFailedTaskIsOneWarnLineNamingTheTaskAndTheError() throws Exception {
        TestSpark.get();
        JavaSparkContext jsc = SparkSessions.jsc(SparkSessions.start("squeeze test")); // the session every command starts
        StringWriter out = new StringWriter();
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        WriterAppender app = WriterAppender.createAppender(PatternLayout.newBuilder().withPattern("%p %m%n").build(), null, out, "capture", false, true);
        app.start();
        LoggerConfig lc = new LoggerConfig("squeeze", Level.WARN, true);
        lc.addAppender(app, Level.WARN, null);
        ctx.getConfiguration().addLogger("squeeze", lc);
        ctx.updateLoggers();
        try {
            assertThrows(SparkException.class, () -> jsc.parallelize(List.of(1, 2, 3, 4), 2).map(i -> {
                if (i == 3) throw new IllegalStateException("row 3 is bad");
                return i;
            }).collect());
            long until = System.currentTimeMillis() + 10_000;
            while (!out.toString().contains("row 3 is bad") && System.currentTimeMillis() < until) Thread.sleep(50);
            String log = out.toString();
            assertTrue(log.matches("(?s).*WARN task 1 of stage \\d+ failed on executor driver \\(attempt 1\\): java.lang.IllegalStateException: row 3 is bad\n.*"), log);
            assertTrue(log.lines().noneMatch(l -> l.contains("\tat ")), "no stack frames: " + log);
            // bad input found in a task is the command's own one-line error: not reported twice
            assertThrows(SparkException.class, () -> jsc.parallelize(List.of(1, 2), 2).map(i -> {
                if (i == 2) throw new io.squeeze.core.BadInputException("row 2: label 12 is out of range");
                return i;
            }).collect());
            assertThrows(SparkException.class, () -> jsc.parallelize(List.of(1), 1).map(i -> {
                throw new IllegalStateException("marker after the bad input");
            }).count());
            long until2 = System.currentTimeMillis() + 10_000;
            while (!out.toString().contains("marker after") && System.currentTimeMillis() < until2) Thread.sleep(50);
            assertTrue(out.toString().contains("marker after the bad input"), out.toString());
            assertTrue(!out.toString().contains("label 12"), out.toString());
        } finally {
            ctx.getConfiguration().removeLogger("squeeze");
            ctx.updateLoggers();
            app.stop();
        }
    }
}
