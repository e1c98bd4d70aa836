package netpulse.operators;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.runtime.typeutils.ExternalTypeInfo;
import org.apache.flink.table.types.DataType;
import org.apache.flink.types.Row;

/**
 * Marks each source row late or not, against a watermark that survives restores (STREAMING).
 *
 * <p>Sits between the source and the SQL that routes late rows to the dead-letter table
 * (jobs/naap/envelopes.py) and appends one BOOLEAN column, {@value #LATE_FIELD}. A row is late when
 * its event time is at or before the highest of:
 *
 * <ul>
 *   <li>the watermark of the source reader (what {@code CURRENT_WATERMARK} saw before),
 *   <li>the watermark restored from the last checkpoint or savepoint (below),
 *   <li>with a position field: the watermark of the row's own partition, i.e. the newest event
 *       time read earlier from that partition minus the allowed lateness, kept in state.
 * </ul>
 *
 * <p>Why: Flink does not checkpoint a source's watermark. After a restore the reader has none
 * until every split has emitted again, while the window operators downstream restore theirs.
 * A row hours behind, read in that gap, passed the old check and was then dropped by the
 * deduplication window without a trace. This operator keeps the watermark in union list state
 * (one value per subtask) and restores the <b>minimum</b> over the subtasks that were active,
 * the value the windows themselves restore (each window's watermark is the minimum over its
 * active input channels, and never above the least of them). A larger value (the maximum)
 * would call rows late that the windows accept, e.g. those of a partition that lagged behind
 * another subtask's and moves with a rescale; a smaller one would let rows through that the
 * windows drop. When every subtask was idle, the windows had flushed to the maximum, so the
 * maximum is restored.
 *
 * <p>The partition watermark makes the decision a function of the partition's own record
 * order: it does not depend on how the reader interleaves partitions or on when it emitted
 * watermarks (before every partition has emitted, the reader has no watermark at all), so a
 * run that is restarted calls the same rows late as one that is not. It is never below the
 * reader's watermark while the partition is active (that is the minimum over the partitions),
 * so it only adds rows that are more than the allowed lateness behind their own partition.
 * Partition watermarks are union list state too (every subtask keeps all, merged by maximum),
 * so a partition that moves to another subtask keeps its history.
 *
 * <p>Watermarks and watermark statuses are forwarded unchanged; rows keep their timestamps.
 */
public class LateMarker extends AbstractStreamOperator<Row> implements OneInputStreamOperator<Row, Row> {

    private static final long serialVersionUID = 1L;

    /** The appended column. */
    public static final String LATE_FIELD = "is_late";

    private final int timeIndex;
    private final int positionIndex;
    private final long latenessMs;
    private final int arity;

    private transient ListState<Long> activeState;
    private transient ListState<Long> idleState;
    private transient ListState<Tuple2<String, Long>> partitionState;
    private transient long watermark;
    private transient boolean idle;
    private transient Map<String, Long> partitions;

    /**
     * @param timeIndex field of the event time (TIMESTAMP_LTZ, a java.time.Instant)
     * @param positionIndex field of the source position {@code topic/partition/offset}, or -1
     *     for sources without lasting partitions (files: every file is a new split)
     * @param latenessMs the allowed lateness of the source's watermark
     * @param arity number of input fields
     */
    public LateMarker(int timeIndex, int positionIndex, long latenessMs, int arity) {
        this.timeIndex = timeIndex;
        this.positionIndex = positionIndex;
        this.latenessMs = latenessMs;
        this.arity = arity;
    }

    /**
     * Inserts the marker after {@code input}, a stream of {@code toDataStream} rows.
     *
     * @param positionField name of the position field, or null (see the constructor)
     */
    public static SingleOutputStreamOperator<Row> apply(
            DataStream<Row> input, String timeField, String positionField, long latenessMs, String uid) {
        DataType type = ((ExternalTypeInfo<Row>) input.getType()).getDataType();
        List<String> names = DataType.getFieldNames(type);
        int time = names.indexOf(timeField);
        int position = positionField == null ? -1 : names.indexOf(positionField);
        if (time < 0 || (positionField != null && position < 0)) {
            throw new IllegalArgumentException(
                    "late marker: fields " + timeField + " / " + positionField + " not in " + names);
        }
        return input.transform("late marker", outputType(type), new LateMarker(time, position, latenessMs, names.size()))
                .uid(uid)
                .name("late marker");
    }

    /** The input row type plus {@value #LATE_FIELD} BOOLEAN NOT NULL. */
    static TypeInformation<Row> outputType(DataType input) {
        List<DataTypes.Field> fields = new ArrayList<>(DataType.getFields(input));
        fields.add(DataTypes.FIELD(LATE_FIELD, DataTypes.BOOLEAN().notNull()));
        return ExternalTypeInfo.of(DataTypes.ROW(fields.toArray(new DataTypes.Field[0])).bridgedTo(Row.class));
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        activeState = context.getOperatorStateStore()
                .getUnionListState(new ListStateDescriptor<>("late-marker-active-watermark", Types.LONG));
        idleState = context.getOperatorStateStore()
                .getUnionListState(new ListStateDescriptor<>("late-marker-idle-watermark", Types.LONG));
        partitionState = context.getOperatorStateStore().getUnionListState(
                new ListStateDescriptor<>("late-marker-partitions", Types.TUPLE(Types.STRING, Types.LONG)));
        watermark = Long.MIN_VALUE;
        idle = false;
        partitions = new HashMap<>();
        if (context.isRestored()) {
            watermark = restored(activeState.get(), idleState.get());
            for (Tuple2<String, Long> entry : partitionState.get()) {
                partitions.merge(entry.f0, entry.f1, Math::max);
            }
        }
    }

    /** Minimum over the subtasks that were active; maximum when all were idle (see class doc). */
    static long restored(Iterable<Long> active, Iterable<Long> idle) {
        long min = Long.MAX_VALUE;
        boolean any = false;
        for (Long value : active) {
            any = true;
            min = Math.min(min, value);
        }
        if (any) {
            return min;
        }
        long max = Long.MIN_VALUE;
        for (Long value : idle) {
            max = Math.max(max, value);
        }
        return max;
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        activeState.clear();
        idleState.clear();
        // also Long.MIN_VALUE: an active subtask without a watermark holds the windows back
        (idle ? idleState : activeState).add(watermark);
        List<Tuple2<String, Long>> entries = new ArrayList<>(partitions.size());
        for (Map.Entry<String, Long> entry : partitions.entrySet()) {
            entries.add(Tuple2.of(entry.getKey(), entry.getValue()));
        }
        partitionState.update(entries);
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        watermark = Math.max(watermark, mark.getTimestamp());
        super.processWatermark(mark);
    }

    @Override
    public void processWatermarkStatus(WatermarkStatus status) throws Exception {
        idle = status.isIdle();
        super.processWatermarkStatus(status);
    }

    @Override
    public void processElement(StreamRecord<Row> element) throws Exception {
        Row in = element.getValue();
        Object time = in.getField(timeIndex);
        long ts = time == null ? Long.MIN_VALUE : ((Instant) time).toEpochMilli();
        long limit = watermark;
        if (positionIndex >= 0) {
            String partition = partitionOf((String) in.getField(positionIndex));
            if (partition != null) {
                Long own = partitions.get(partition);
                if (own != null && own > limit) {
                    limit = own;
                }
                if (time != null && (own == null || ts - latenessMs > own)) {
                    partitions.put(partition, ts - latenessMs);
                }
            }
        }
        Row out = Row.withPositions(in.getKind(), arity + 1);
        for (int i = 0; i < arity; i++) {
            out.setField(i, in.getField(i));
        }
        out.setField(arity, time != null && limit != Long.MIN_VALUE && ts <= limit);
        output.collect(element.replace(out));
    }

    /** {@code topic/partition} of {@code topic/partition/offset}, or null. */
    static String partitionOf(String position) {
        if (position == null) {
            return null;
        }
        int cut = position.lastIndexOf('/');
        return cut <= 0 ? null : position.substring(0, cut);
    }
}
