namespace Sync.Engine.Tests.Runtime;

public class BackoffTests
{
    [Fact]
    public void The_delay_starts_at_the_first_and_doubles_up_to_the_max()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1));
        var delays = new List<TimeSpan>();
        for (var i = 0; i < 6; i++)
        {
            delays.Add(backoff.Delay);
            backoff.Increase();
        }

        Assert.Equal([100, 200, 400, 800, 1000, 1000], delays.Select(d => d.TotalMilliseconds));
    }

    [Fact]
    public void A_max_below_the_first_delay_caps_from_the_second_wait_on()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromSeconds(2), backoff.Delay);

        backoff.Increase();

        Assert.Equal(TimeSpan.FromSeconds(1), backoff.Delay);
    }

    [Fact]
    public void Reset_goes_back_to_the_first_delay()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        backoff.Increase();
        backoff.Increase();

        backoff.Reset();

        Assert.Equal(TimeSpan.FromMilliseconds(100), backoff.Delay);
    }

    [Fact]
    public void Jitter_adds_up_to_a_quarter_of_the_delay_in_whole_milliseconds_and_leaves_the_delay_alone()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
        var random = new Random(7);
        var jittered = Enumerable.Range(0, 2000).Select(_ => backoff.Jittered(random)).ToList();

        Assert.All(jittered, j => Assert.InRange(j.TotalMilliseconds, 400, 500));
        Assert.All(jittered, j => Assert.Equal(0, j.Ticks % TimeSpan.TicksPerMillisecond));
        Assert.Contains(jittered, j => j == TimeSpan.FromMilliseconds(400));
        Assert.Contains(jittered, j => j == TimeSpan.FromMilliseconds(500));
        Assert.Equal(TimeSpan.FromMilliseconds(400), backoff.Delay);
    }

    [Fact]
    public void A_delay_under_four_milliseconds_gets_no_jitter()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(3), TimeSpan.FromSeconds(1));

        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal(TimeSpan.FromMilliseconds(3), backoff.Jittered()));
    }
}
